"""The leader/ISR/liveness table (soft state, never in the log).

The controller leader builds it from broker heartbeats (:meth:`LeaderTable.report`) and
hands it out in every heartbeat answer; every other broker keeps the last one it received
(:meth:`LeaderTable.replace`). Metadata answers read it for partitions this broker does
not host; for hosted ones the local Raft group knows better (the store merges them).

A broker is live while its heartbeats keep arriving within ``session_timeout_ms``; what a
broker reported leading is forgotten with it. Two brokers claiming one partition (a deposed
leader that has not heard yet) resolve to the higher epoch.

Owned by the broker's loop; not thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["LeaderInfo", "LeaderTable"]

Key = tuple[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class LeaderInfo:
    leader: int
    epoch: int
    isr: tuple[int, ...]


class LeaderTable:
    """Partition -> leader info, and the live brokers."""

    def __init__(self, session_timeout_ms: int) -> None:
        self.session_timeout_ms = session_timeout_ms
        self.partitions: dict[Key, LeaderInfo] = {}
        self.live: frozenset[int] = frozenset()
        #: The controller's applied metadata offset at its last answer (-1: none yet).
        self.metadata_offset = -1
        self.controller_id = -1
        self.version = 0
        self._seen: dict[int, int] = {}  # broker -> last heartbeat (ms), controller only
        self._by_broker: dict[int, dict[Key, LeaderInfo]] = {}
        #: broker -> the metadata offset it reported applied (controller only).
        self.applied: dict[int, int] = {}

    # -- on the controller leader ---------------------------------------------------------

    def report(
        self,
        broker: int,
        led: Iterable[tuple[Key, LeaderInfo]],
        now_ms: int,
        metadata_offset: int = -1,
    ) -> None:
        self._seen[broker] = now_ms
        self.applied[broker] = max(self.applied.get(broker, -1), metadata_offset)
        self._by_broker[broker] = dict(led)
        self._rebuild(now_ms)

    def caught_up(self, offset: int) -> bool:
        """Every live broker has applied the metadata up to ``offset``."""
        return all(self.applied.get(b, -1) >= offset for b in self.live)

    def expire(self, now_ms: int) -> None:
        self._rebuild(now_ms)

    def _rebuild(self, now_ms: int) -> None:
        horizon = now_ms - self.session_timeout_ms
        live = frozenset(b for b, t in self._seen.items() if t >= horizon)
        merged: dict[Key, LeaderInfo] = {}
        for broker in sorted(live):
            for key, info in self._by_broker.get(broker, {}).items():
                held = merged.get(key)
                if held is None or info.epoch > held.epoch:
                    merged[key] = info
        if live != self.live or merged != self.partitions:
            self.live, self.partitions = live, merged
            self.version += 1

    def clear_reports(self) -> None:
        """A new controller leader starts from nothing (its predecessor's table is gone)."""
        self._seen.clear()
        self._by_broker.clear()
        self.applied.clear()

    # -- on every other broker ------------------------------------------------------------

    def replace(
        self,
        controller_id: int,
        live: Iterable[int],
        partitions: dict[Key, LeaderInfo],
        metadata_offset: int,
    ) -> None:
        live_set = frozenset(live)
        self.controller_id = controller_id
        self.metadata_offset = metadata_offset
        if live_set != self.live or partitions != self.partitions:
            self.live, self.partitions = live_set, partitions
            self.version += 1
