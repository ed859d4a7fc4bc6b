"""Spreading replicas evenly over the brokers (issue 23's ``partitions balance``): which
partitions to move so that every broker holds as many replicas as the others, within one.

Greedy, by replica count: while the most loaded broker holds two or more replicas more than
the least loaded one, one partition of the most loaded (that the least loaded does not
hold) moves that replica to the least loaded, in place (its position in the replica list is
kept, so a preferred leadership moves with it and leaderships stay as spread as they were).
Each partition moves at most once a plan; ties go to the lowest broker id, then to the
first partition, so a plan is deterministic. Brokers outside ``brokers`` (draining, dead)
take nothing; their replicas are not counted against anyone.

Pure functions over broker ids; thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["balance_moves"]


def balance_moves(
    placements: Sequence[Sequence[int]],
    brokers: Sequence[int],
    movable: Sequence[bool],
    limit: int,
) -> list[tuple[int, tuple[int, ...]]]:
    """``(index, target)`` for at most ``limit`` of ``placements`` (only those ``movable``:
    not moving now) that even out the replica counts of ``brokers``."""
    loads = dict.fromkeys(brokers, 0)
    current = [tuple(p) for p in placements]
    for replicas in current:
        for b in replicas:
            if b in loads:
                loads[b] += 1
    moved: dict[int, tuple[int, ...]] = {}
    while len(moved) < limit and loads:
        most = max(loads, key=lambda b: (loads[b], -b))
        least = min(loads, key=lambda b: (loads[b], b))
        if loads[most] - loads[least] < 2:
            break
        index = next(
            (i for i, r in enumerate(current)
             if movable[i] and i not in moved and most in r and least not in r),
            None,
        )  # fmt: skip
        if index is None:
            break  # every partition of the most loaded holds the least loaded one too
        target = tuple(least if b == most else b for b in current[index])
        current[index] = moved[index] = target
        loads[most] -= 1
        loads[least] += 1
    return sorted(moved.items())
