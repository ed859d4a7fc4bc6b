"""Where the replicas of decommissioned brokers go (issue 23): the moves that drain them.

A decommissioned broker is *draining*: every partition it hosts moves, a few at a time, to
a target that keeps the partition's other replicas (first: the preferred leader is one
that already holds the data, so leadership leaves the draining broker before anything
else) and takes, for each draining replica, the eligible broker holding fewest replicas
on a rack the partition does not use yet (if there is one: Kafka's rack rule; a broker
without a rack is a rack of its own), ties to the lowest id. Loads count every partition,
and each planned move as if done, so a drain spreads evenly. A partition with too few
eligible brokers left is not moved (the decommission was refused for that; brokers may
have died since).

Pure functions over broker ids; thread-safe.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from partitioning.balance import rack_of

__all__ = ["drain_targets", "short_of_brokers"]


def drain_targets(
    placements: Sequence[Sequence[int]],
    draining: Collection[int],
    eligible: Sequence[int],
    existing: Iterable[Sequence[int]],
    limit: int,
    racks: Mapping[int, str] | None = None,
) -> list[tuple[int, tuple[int, ...]]]:
    """``(index, target)`` for at most ``limit`` of ``placements`` (partitions free to move)
    that hold a draining broker; ``existing``: every partition's replicas (the loads);
    ``racks``: the brokers' racks (none: every broker a rack of its own)."""
    racks = racks or {}
    loads = dict.fromkeys(eligible, 0)
    for replicas in existing:
        for broker in replicas:
            if broker in loads:
                loads[broker] += 1
    out: list[tuple[int, tuple[int, ...]]] = []
    for index, replicas in enumerate(placements):
        if len(out) >= limit:
            break
        leaving = [r for r in replicas if r in draining]
        if not leaving:
            continue
        target = [r for r in replicas if r not in draining]
        free = [b for b in eligible if b not in replicas]
        if len(free) < len(leaving):
            continue
        for _ in leaving:
            used = {rack_of(b, racks) for b in target}
            best = min(free, key=lambda b: (rack_of(b, racks) in used, loads[b], b))
            free.remove(best)
            target.append(best)
            loads[best] += 1
        out.append((index, tuple(target)))
    return out


def short_of_brokers(
    placements: Iterable[Sequence[int]], node: int, remaining: Collection[int]
) -> list[int]:
    """The replication factors of ``placements`` hosted on ``node`` that the ``remaining``
    brokers (not draining, ``node`` excluded) could not hold (sorted, distinct)."""
    return sorted({len(r) for r in placements if node in r and len(r) > len(remaining)})
