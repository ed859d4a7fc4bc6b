"""Decommissioning and the continuous balancer, the controller side (issue 23): the
controller leader moves the replicas of draining brokers away, a few partitions at a time,
and (opt-in, ``partition.autobalancing.enable``) evens out the replicas over the brokers
whenever no move at all is in progress (``partitioning.balance``: a broker just added, or
recommissioned, takes its share without anyone asking).

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
from logd.metadata.store import RESERVED_TOPICS, TopicRecord
from logd.metadata.types import BrokerMeta
from partitioning.balance import balance_moves
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
        autobalance: bool = False,
    ) -> None:
        self._store = store
        self.interval_s = interval_s
        self.max_moves = max_moves
        self.autobalance = autobalance

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            store = self._store()
            if store is None or not store.is_leader:
                continue
            if not await self.round(store) and self.autobalance:
                await self.balance(store)

    async def balance(self, store: _Store) -> int:
        """Start moves that even out the replicas, if no move is in progress."""
        topics = store.topics()
        entries = [
            (name, a)
            for name in sorted(topics)
            if name not in RESERVED_TOPICS
            for a in topics[name].partitions
        ]
        if any(a.moving for _, a in entries):
            return 0  # one wave at a time: the next starts once these are done
        brokers = [b.node_id for b in store.brokers() if b.alive and not b.draining]
        plan = balance_moves(
            [a.replicas for _, a in entries], brokers, [True] * len(entries), self.max_moves
        )
        moves = [(entries[i][0], entries[i][1].partition, entries[i][1].replicas, t)
                 for i, t in plan]  # fmt: skip
        return await self._start(store, moves, "balance")

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
        moves = [(*free[i], target) for i, target in plan]
        return await self._start(store, moves, "drain")

    async def _start(
        self,
        store: _Store,
        moves: list[tuple[str, int, tuple[int, ...], tuple[int, ...]]],
        why: str,
    ) -> int:
        """Start ``(topic, partition, seen, target)`` moves; returns how many started."""
        started = 0
        for name, partition, seen, target in moves:
            try:
                await store.update_topic(name, _moving(partition, seen, target))
            except LogdError as exc:  # the topic went, the controller moved: next round
                _log.info("%s: cannot move %s-%d yet: %s", why, name, partition, exc)
                continue
            _log.info("%s: moving %s-%d from %s to %s", why, name, partition, list(seen),
                      list(target))  # fmt: skip
            started += 1
        return started


def _moving(
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
