"""Deadlines keyed by what they are for, with the earliest one at hand (a lazy heap).

The coordinator arms a deadline per member session, per pending member id, per join phase,
per sync phase and one for offset retention. Re-arming a key (every heartbeat re-arms its
member's) replaces its deadline; the old heap entry becomes stale and is skipped when it
surfaces, so arming is O(log n) and nothing is searched. The heap is rebuilt when stale
entries outnumber live ones, which bounds its size at about twice the live timers.

Pure; no clock inside — deadlines are milliseconds the caller computed from ``now_ms``.
Not thread-safe; owned by its coordinator.
"""

from __future__ import annotations

import enum
import heapq
from typing import NamedTuple

__all__ = ["TimerKey", "TimerKind", "Timers"]


class TimerKind(enum.IntEnum):
    HEARTBEAT = 1  # a member's session (or new-member join) timeout
    PENDING_MEMBER = 2  # a member id handed out with MEMBER_ID_REQUIRED, unused so far
    JOIN = 3  # the end of a group's join phase (rebalance timeout or initial delay)
    SYNC = 4  # members of a new generation must have sent SyncGroup by then
    RETENTION = 5  # the next offset-retention sweep
    CONSUMER = 6  # a consumer-protocol group's next session or revocation deadline


class TimerKey(NamedTuple):
    kind: TimerKind
    group_id: str = ""
    member_id: str = ""


class Timers:
    """A set of ``key -> deadline_ms``; :meth:`pop_due` hands out the expired ones in
    deadline order (ties in arming order)."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._live: dict[TimerKey, tuple[int, int]] = {}
        self._heap: list[tuple[int, int, TimerKey]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def deadline(self, key: TimerKey) -> int | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def arm(self, key: TimerKey, deadline_ms: int) -> None:
        self._seq += 1
        entry = (deadline_ms, self._seq)
        self._live[key] = entry
        heapq.heappush(self._heap, (deadline_ms, self._seq, key))
        if len(self._heap) > 2 * len(self._live) + 64:
            self._rebuild()

    def cancel(self, key: TimerKey) -> None:
        self._live.pop(key, None)

    def next_deadline_ms(self) -> int | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ms: int) -> TimerKey | None:
        """The earliest key whose deadline is at or before ``now_ms`` (disarmed), or None."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now_ms:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._live[key]
        return key

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            if self._live.get(key) == (deadline, seq):
                return
            heapq.heappop(heap)

    def _rebuild(self) -> None:
        self._heap = [(d, s, k) for k, (d, s) in self._live.items()]
        heapq.heapify(self._heap)
