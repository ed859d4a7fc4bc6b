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
from collections.abc import Iterable, Mapping

from logd.metadata.types import BrokerStorage

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
        #: live broker -> its disk as it last reported it (issue 24).
        self.storage: dict[int, BrokerStorage] = {}
        self._reported_storage: dict[int, BrokerStorage] = {}

    @property
    def full(self) -> frozenset[int]:
        """Live brokers whose disks are below their reserve (no leadership goes there)."""
        return frozenset(b for b, s in self.storage.items() if s.full)

    # -- on the controller leader ---------------------------------------------------------

    def report(
        self,
        broker: int,
        led: Iterable[tuple[Key, LeaderInfo]],
        now_ms: int,
        metadata_offset: int = -1,
        storage: BrokerStorage | None = None,
    ) -> None:
        self._seen[broker] = now_ms
        if storage is not None:
            self._reported_storage[broker] = storage
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
        self.storage = {b: s for b, s in self._reported_storage.items() if b in live}
        if live != self.live or merged != self.partitions:
            self.live, self.partitions = live, merged
            self.version += 1

    def clear_reports(self) -> None:
        """A new controller leader starts from nothing (its predecessor's table is gone)."""
        self._reported_storage.clear()
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
        storage: Mapping[int, BrokerStorage] | None = None,
    ) -> None:
        live_set = frozenset(live)
        if storage is not None:
            self.storage = dict(storage)
        self.controller_id = controller_id
        self.metadata_offset = metadata_offset
        if live_set != self.live or partitions != self.partitions:
            self.live, self.partitions = live_set, partitions
            self.version += 1
