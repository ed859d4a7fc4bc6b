"""A consumer's side of the group protocol, and group administration.

Modules, from the bottom up:

* ``types``        — the public value types of group administration (``GroupDescription``...);
* ``assign``       — the subscription a member sends and the leader's assignment (pure);
* ``member_state`` — a member's states as a ``(state, event) -> state`` table (pure);
* ``steps``        — what the machine asks for: the steps of a round, the effects of an input;
* ``machine``      — ``MemberMachine``: the membership protocol sans I/O -- steps to take,
  what each answer means (speaks ``logd.groups.messages``);
* ``codec``        — those messages (and the admin calls) as ``logd.v1`` protobufs, both ways;
* ``events``       — rebalance steps handed from the event loop to the application;
* ``link``         — ``CoordinatorLink``: FindCoordinator, the calls, what to retry;
* ``membership``   — ``GroupMembership``: the I/O shell (a rebalance task, a heartbeat task)
  that executes what the machine asks, and the application's commits;
* ``admin``        — ``GroupAdmin``: list, describe, delete groups; alter their offsets.

This ``__init__`` imports nothing.
"""

__all__: list[str] = []
