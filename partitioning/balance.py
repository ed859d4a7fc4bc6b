"""Spreading replicas and leaders evenly over the brokers (issue 23's ``partitions balance``
and the continuous balancer): which partitions to move, and which to give another
preferred leader, so that every broker holds as many replicas, and leads as many
partitions, as the others -- by count and by bytes -- without two replicas of a partition
on one rack.

The plan is greedy, in phases, each one's moves chosen so that no later phase undoes them:

1. *Racks* (Kafka's rule): a partition of replication factor RF needs ``min(RF, racks)``
   distinct racks. One that has fewer trades a replica whose rack is taken twice for the
   least loaded broker of a rack it lacks. A broker without a rack is a rack of its own, so
   a cluster without racks has nothing to repair. No later move lowers a partition's rack
   spread below what it needs (nor below what it has, while it has less).
2. *Replica counts*: while a broker holds two or more replicas more than another, one of
   its partitions trades it for the other (the partition whose size best evens their bytes).
3. *Replica bytes*: while the brokers' bytes differ by more than ``BYTES_TOLERANCE`` of the
   mean, the fullest broker hands a partition to an emptier one with fewer replicas, or,
   counts being equal, trades a partition for a smaller one of the other broker (two moves).
   Each step lowers the sum of squared bytes, so repeated plans converge.
4. *Leader counts*, then 5. *leader bytes*: the same over preferred leaders (the first
   replica), by reordering a partition's replicas only -- a preferred-leader change, which
   the controller's leader rebalance turns into a leadership transfer; no data moves.

A replica move keeps the position in the replica list (a preferred leadership moves with
its broker). Each partition's replicas move at most once a plan, and at most ``limit``
partitions move; leaderships change at most once a partition, ``limit`` at most. Brokers
outside ``brokers`` (draining, dead) take nothing and are not counted; their replicas stay.
Partitions being moved now are counted at their target and left alone. Ties go to the
lowest broker id, then to the first partition: a plan is deterministic.

Pure functions over broker ids; thread-safe.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["BYTES_TOLERANCE", "Part", "Plan", "plan_balance", "rack_of", "racks_needed"]

#: Brokers' bytes (replicas, or led partitions) within this share of the mean count as even.
BYTES_TOLERANCE: Final = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """One partition as the planner sees it."""

    #: Its brokers, the preferred leader first (a partition moving now: its target).
    replicas: tuple[int, ...]
    #: The bytes of its log (0: empty or unknown).
    size: int = 0
    #: False while it moves: counted, never changed.
    movable: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """``(index, target)`` pairs: ``moves`` change a partition's brokers (the target may
    also name another preferred leader), ``leaders`` only reorder them."""

    moves: tuple[tuple[int, tuple[int, ...]], ...]
    leaders: tuple[tuple[int, tuple[int, ...]], ...]


def rack_of(broker: int, racks: Mapping[int, str]) -> str:
    """``broker``'s rack; a broker without one is a rack of its own."""
    return racks.get(broker) or f"\0{broker}"


def racks_needed(replication_factor: int, brokers: Sequence[int], racks: Mapping[int, str]) -> int:
    """The distinct racks a partition of ``replication_factor`` replicas should span."""
    return min(replication_factor, len({rack_of(b, racks) for b in brokers}))


def plan_balance(
    parts: Sequence[Part], brokers: Sequence[int], racks: Mapping[int, str], limit: int
) -> Plan:
    """The moves and preferred-leader changes that even out ``brokers``; see the module."""
    state = _State(parts, brokers, racks)
    replicas = _Replicas(state, limit)
    replicas.repair_racks()
    replicas.even_counts()
    replicas.even_bytes()
    leaders = _Leaders(state, limit)
    leaders.even_counts()
    leaders.even_bytes()
    moves: list[tuple[int, tuple[int, ...]]] = []
    reorders: list[tuple[int, tuple[int, ...]]] = []
    for i in sorted(state.changed):
        target, before = state.parts[i], parts[i].replicas
        (moves if set(target) != set(before) else reorders).append((i, target))
    return Plan(tuple(moves), tuple(reorders))


class _State:
    """The placements while a plan is made, with the racks."""

    def __init__(
        self, parts: Sequence[Part], brokers: Sequence[int], racks: Mapping[int, str]
    ) -> None:
        self.parts = [p.replicas for p in parts]
        self.sizes = [max(0, p.size) for p in parts]
        self.movable = [p.movable for p in parts]
        self.brokers = sorted(set(brokers))
        self.racks = racks
        self.rack_count = len({rack_of(b, racks) for b in self.brokers})
        self.changed: set[int] = set()

    def spread(self, replicas: Sequence[int]) -> int:
        return len({rack_of(b, self.racks) for b in replicas})

    def needed(self, i: int) -> int:
        return min(len(self.parts[i]), self.rack_count)

    def rack_ok(self, i: int, new: Sequence[int]) -> bool:
        """Would ``new`` keep partition ``i``'s rack spread (what it needs, or has)?"""
        return self.spread(new) >= min(self.spread(self.parts[i]), self.needed(i))


class _Dimension:
    """Counts and bytes per broker of one thing to even out (replicas, or leaderships),
    and the one step that shifts a partition's share from one broker to another."""

    def __init__(self, state: _State, limit: int) -> None:
        self.state = state
        self.limit = limit
        self.done: set[int] = set()
        self.count = dict.fromkeys(state.brokers, 0)
        self.bytes = dict.fromkeys(state.brokers, 0)
        self.held: dict[int, set[int]] = {b: set() for b in state.brokers}
        for i in range(len(state.parts)):
            for b in self.holders(i):
                if b in self.count:
                    self._add(i, b, 1)

    def holders(self, i: int) -> tuple[int, ...]:
        raise NotImplementedError

    def target(self, i: int, src: int, dst: int) -> tuple[int, ...] | None:
        """Partition ``i``'s replicas once ``src``'s share goes to ``dst`` (None: cannot)."""
        raise NotImplementedError

    def _add(self, i: int, b: int, sign: int) -> None:
        self.count[b] += sign
        self.bytes[b] += sign * self.state.sizes[i]
        (self.held[b].add if sign > 0 else self.held[b].discard)(i)

    def candidates(self, src: int, dst: int) -> list[int]:
        movable, done = self.state.movable, self.done
        return [
            i
            for i in sorted(self.held[src])
            if movable[i] and i not in done and self.target(i, src, dst) is not None
        ]

    def shift(self, i: int, src: int, dst: int) -> None:
        new = self.target(i, src, dst)
        assert new is not None
        self._add(i, src, -1)
        self._add(i, dst, 1)
        self.state.parts[i] = new
        self.state.changed.add(i)
        self.done.add(i)

    def even_counts(self) -> None:
        """Phase 2/4: counts within one of each other (or no step left)."""
        while len(self.done) < self.limit and self._count_step():
            pass

    def _count_step(self) -> bool:
        by_count = sorted(self.count, key=lambda b: (-self.count[b], b))
        for src in by_count:
            for dst in reversed(by_count):
                if self.count[src] - self.count[dst] < 2:
                    break
                found = self.candidates(src, dst)
                if found:
                    gap = self.bytes[src] - self.bytes[dst]
                    self.shift(min(found, key=lambda i: abs(gap - 2 * self.state.sizes[i])),
                               src, dst)  # fmt: skip
                    return True
        return False

    def even_bytes(self) -> None:
        """Phase 3/5: bytes within ``BYTES_TOLERANCE`` of the mean (or no step left)."""
        while len(self.done) < self.limit and self._uneven() and self._bytes_step():
            pass

    def _uneven(self) -> bool:
        if not self.bytes:
            return False
        mean = sum(self.bytes.values()) / len(self.bytes)
        return max(self.bytes.values()) - min(self.bytes.values()) > BYTES_TOLERANCE * mean

    def _bytes_step(self) -> bool:
        by_bytes = sorted(self.bytes, key=lambda b: (-self.bytes[b], b))
        # A step must even its pair by more than the tolerance: no move to shave a few
        # bytes off, nor to swap which broker holds the one partition more.
        floor = BYTES_TOLERANCE * sum(self.bytes.values()) / len(self.bytes)
        for src in by_bytes:
            for dst in reversed(by_bytes):
                gap = self.bytes[src] - self.bytes[dst]
                if gap <= floor:
                    break
                if self.count[src] > self.count[dst] and self._hand_over(src, dst, gap, floor):
                    return True
                if self.count[src] == self.count[dst] and self._trade(src, dst, gap, floor):
                    return True
        return False

    def _hand_over(self, src: int, dst: int, gap: int, floor: float) -> bool:
        """One partition of ``src`` to ``dst`` that evens their bytes by more than
        ``floor``: lowers the sum of squared bytes (by 2*size*(gap-size) > 0)."""
        sizes = self.state.sizes
        found = [i for i in self.candidates(src, dst) if _evens(gap, sizes[i], floor)]
        if not found:
            return False
        self.shift(min(found, key=lambda i: abs(gap - 2 * sizes[i])), src, dst)
        return True

    def _trade(self, src: int, dst: int, gap: int, floor: float) -> bool:
        """A partition of ``src`` for a smaller one of ``dst`` (counts stay), evening their
        bytes by more than ``floor``, when two steps are left in the budget."""
        if len(self.done) + 2 > self.limit:
            return False
        sizes = self.state.sizes
        theirs = sorted((sizes[j], j) for j in self.candidates(dst, src))
        best: tuple[int, int, int] | None = None
        for i in self.candidates(src, dst):
            ideal = sizes[i] - gap / 2  # the size of theirs that evens the pair exactly
            k = bisect.bisect_left(theirs, (ideal, -1))
            for size, j in theirs[max(0, k - 1) : k + 1]:
                delta = sizes[i] - size
                if _evens(gap, delta, floor):
                    score = abs(gap - 2 * delta)
                    if best is None or (score, i, j) < best:
                        best = (score, i, j)
        if best is None:
            return False
        _, i, j = best
        self.shift(i, src, dst)
        self.shift(j, dst, src)
        return True


def _evens(gap: int, size: int, floor: float) -> bool:
    """Shifting ``size`` bytes across a pair ``gap`` apart narrows it by more than ``floor``."""
    return 0 < size < gap and gap - abs(gap - 2 * size) > floor


class _Replicas(_Dimension):
    """Replicas per broker; a step moves a replica (its position kept)."""

    def holders(self, i: int) -> tuple[int, ...]:
        return self.state.parts[i]

    def target(self, i: int, src: int, dst: int) -> tuple[int, ...] | None:
        now = self.state.parts[i]
        if dst in now or src not in now:
            return None
        new = tuple(dst if b == src else b for b in now)
        return new if self.state.rack_ok(i, new) else None

    def repair_racks(self) -> None:
        """Phase 1: partitions spanning fewer racks than they need gain racks."""
        s = self.state
        for i, now in enumerate(s.parts):
            if len(self.done) >= self.limit:
                return
            if not s.movable[i] or s.spread(now) >= s.needed(i):
                continue
            racks = [rack_of(b, s.racks) for b in now]
            doubled = [b for b, r in zip(now, racks, strict=True)
                       if racks.count(r) > 1 and b in self.count]  # fmt: skip
            free = [b for b in s.brokers if rack_of(b, s.racks) not in racks]
            if doubled and free:
                src = max(doubled, key=lambda b: (self.count[b], b))
                dst = min(free, key=lambda b: (self.count[b], self.bytes[b], b))
                self.shift(i, src, dst)


class _Leaders(_Dimension):
    """Preferred leaderships per broker; a step reorders a partition's replicas."""

    def holders(self, i: int) -> tuple[int, ...]:
        return self.state.parts[i][:1]

    def target(self, i: int, src: int, dst: int) -> tuple[int, ...] | None:
        now = self.state.parts[i]
        if now[0] != src or dst not in now:
            return None
        return tuple(src if b == dst else dst if b == src else b for b in now)
