"""The consumer-group coordinator: a sans-I/O core (DESIGN.md principles 5 and 7).

Modules, from the bottom up:

* ``partition``  — ``offsets_partition_for(group_id, n)``: which coordinator owns a group
  (imports nothing else of this package, so the broker can call it cheaply);
* ``state``      — the group lifecycle as a ``(state, event) -> state`` table;
* ``log_format`` — ``__consumer_offsets`` keys and values (Kafka's schemas);
* ``messages``   — requests and responses;
* ``coordinator``— ``GroupCoordinator``, the facade a driver runs (the rest is its inside:
  ``core``, ``group``, ``join``, ``membership``, ``rebalance``, ``offsets``, ``loader``,
  ``outbox``, ``timers``, ``config``).

This ``__init__`` imports nothing, so that importing ``logd.groups.partition`` does not
load the state machine.
"""

__all__: list[str] = []
