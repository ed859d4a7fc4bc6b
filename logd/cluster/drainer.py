"""Decommissioning, the controller side (issue 23): the controller leader moves the
replicas of draining brokers away, a few partitions at a time.

Which brokers drain is in the metadata (``BrokerDrainRecord``); every ``interval_s`` the
broker that leads the controller starts moves for the partitions that still hold a
draining broker and are not moving (``partitioning.drain.drain_targets``), at most
``max_moves`` drain moves in flight cluster-wide. Each is an ordinary partition move
(``logd.cluster.mover`` carries it out: learners, catch-up, leadership handed off the
leaving replica, the voter swap, the old copy deleted), written with a condition: the
partition must still be placed as it was seen. Nothing is remembered between rounds, so a
new controller leader (failover, restart) carries on from the metadata alone.

Ownership: one per broker, on its event loop (owned by ``ClusterRuntime``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from logd.errors import LogdError
from logd.metadata.store import TopicRecord
from logd.metadata.types import BrokerMeta
from partitioning.drain import drain_targets

__all__ = ["MAX_DRAIN_MOVES", "Drainer"]

_log = logging.getLogger(__name__)

#: Drain moves in flight at once, cluster-wide (Redpanda moves a few at a time too: each
#: move copies a whole partition, and the producers keep their bandwidth).
MAX_DRAIN_MOVES: Final = 8


class _Store(Protocol):
    @property
    def is_leader(self) -> bool: ...

    def brokers(self) -> tuple[BrokerMeta, ...]: ...

    def topics(self) -> Mapping[str, TopicRecord]: ...

    async def update_topic(
        self, name: str, change: Callable[[TopicRecord], TopicRecord]
    ) -> None: ...


class Drainer:
    """Starts the moves that drain decommissioned brokers; see the module doc."""

    def __init__(
        self,
        store: Callable[[], _Store | None],
        *,
        interval_s: float = 1.0,
        max_moves: int = MAX_DRAIN_MOVES,
    ) -> None:
        self._store = store
        self.interval_s = interval_s
        self.max_moves = max_moves

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            store = self._store()
            if store is not None and store.is_leader:
                await self.round(store)

    async def round(self, store: _Store) -> int:
        """Start the drain moves due now; returns how many were started."""
        brokers = store.brokers()
        draining = {b.node_id for b in brokers if b.draining}
        if not draining:
            return 0
        eligible = [b.node_id for b in brokers if b.alive and not b.draining]
        topics = store.topics()
        free: list[tuple[str, int, tuple[int, ...]]] = []
        in_flight = 0
        for name in sorted(topics):
            for a in topics[name].partitions:
                if a.moving:
                    in_flight += bool(draining & set(a.removing))
                elif draining & set(a.replicas):
                    free.append((name, a.partition, a.replicas))
        plan = drain_targets(
            [replicas for _, _, replicas in free],
            draining,
            eligible,
            (a.replicas for t in topics.values() for a in t.partitions),
            self.max_moves - in_flight,
        )
        started = 0
        for index, target in plan:
            name, partition, seen = free[index]
            try:
                await store.update_topic(name, _draining(partition, seen, target))
            except LogdError as exc:  # the topic went, the controller moved: next round
                _log.info("drain: cannot move %s-%d yet: %s", name, partition, exc)
                continue
            _log.info("drain: moving %s-%d from %s to %s", name, partition, list(seen),
                      list(target))  # fmt: skip
            started += 1
        return started


def _draining(
    partition: int, seen: tuple[int, ...], target: tuple[int, ...]
) -> Callable[[TopicRecord], TopicRecord]:
    """The change that starts the move ``seen -> target``, if the partition is still
    placed on ``seen`` with no move (otherwise it changes nothing)."""

    def change(record: TopicRecord) -> TopicRecord:
        if partition >= len(record.partitions):
            return record
        now = record.partitions[partition]
        if now.moving or now.replicas != seen:
            return record
        parts = list(record.partitions)
        parts[partition] = now.moving_to(target)
        return dataclasses.replace(record, partitions=tuple(parts))

    return change
