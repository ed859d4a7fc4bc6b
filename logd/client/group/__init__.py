"""A consumer's side of the group protocol, and group administration.

Modules, from the bottom up:

* ``types``      — the public value types of group administration (``GroupDescription``...);
* ``assign``     — the subscription a member sends and the leader's assignment (pure);
* ``events``     — rebalance steps handed from the event loop to the application;
* ``link``       — ``CoordinatorLink``: FindCoordinator, the calls, what to retry;
* ``membership`` — ``GroupMembership``: join, sync, heartbeat, leave, commit (two tasks);
* ``admin``      — ``GroupAdmin``: list, describe, delete groups; alter their offsets.

This ``__init__`` imports nothing.
"""

__all__: list[str] = []
