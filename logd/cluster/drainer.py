"""Decommissioning and the continuous balancer, the controller side (issue 23): the
controller leader moves the replicas of draining brokers away, a few partitions at a time,
and (opt-in, ``partition.autobalancing.enable``) evens out the replicas and the leaders
over the brokers whenever no move at all is in progress (``logd.cluster.balancing``: a
broker just added, or recommissioned, takes its share without anyone asking). Both kinds
of move catch up at most ``partition.move.throttle`` bytes a second, so that they do not
starve the producers. Both settings are read every round from the cluster's dynamic configs
(``logd.metadata.cluster_config``), the broker's own config when the cluster sets none, so
an operator changes them at runtime (``logd cluster config set``) on every broker at once;
the moves started here follow the throttle as it changes, in progress too (their partition
leaders read it: ``logd.cluster.mover``).

Which brokers drain is in the metadata (``BrokerDrainRecord``); every ``interval_s`` the
broker that leads the controller starts moves for the partitions that still hold a
draining broker and are not moving (``partitioning.drain.drain_targets``, rack-aware), at most
``max_moves`` drain moves in flight cluster-wide. Each is an ordinary partition move
(``logd.cluster.mover`` carries it out: learners, catch-up, leadership handed off the
leaving replica, the voter swap, the old copy deleted), written with a condition: the
partition must still be placed as it was seen. Nothing is remembered between rounds, so a
new controller leader (failover, restart) carries on from the metadata alone.

Ownership: one per broker, on its event loop (owned by ``ClusterRuntime``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from logd.cluster.balancing import Change, plan_changes, start_changes
from logd.metadata.cluster_config import autobalance, move_throttle
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

    def partition_bytes(self, topic: str, partition: int) -> int: ...

    def cluster_configs(self) -> Mapping[str, str]: ...

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
        throttle: int = 0,
    ) -> None:
        self._store = store
        self.interval_s = interval_s
        self.max_moves = max_moves
        #: The broker's own ``partition.autobalancing.enable`` (the cluster's value wins).
        self.autobalance = autobalance
        #: The broker's own catch-up throttle of the moves started here, bytes/s (0: none;
        #: the cluster's ``partition.move.throttle`` wins).
        self.throttle = throttle

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            store = self._store()
            if store is None or not store.is_leader:
                continue
            on = autobalance(store.cluster_configs(), self.autobalance)
            if not await self.round(store) and on:
                await self.balance(store)

    def _throttle(self, store: _Store) -> int:
        return move_throttle(store.cluster_configs(), self.throttle)

    async def balance(self, store: _Store) -> int:
        """Start the changes that even out the replicas and leaders
        (``logd.cluster.balancing``), if no move is in progress."""
        topics = store.topics()
        if any(a.moving for t in topics.values() for a in t.partitions):
            return 0  # one wave at a time: the next starts once these are done
        changes = plan_changes(store.brokers(), topics, store.partition_bytes, self.max_moves)
        throttle = self._throttle(store)
        return len(await start_changes(store, changes, throttle, "balance", follows=True))

    async def round(self, store: _Store) -> int:
        """Start the drain moves due now; returns how many were started."""
        brokers = store.brokers()
        draining = {b.node_id for b in brokers if b.draining}
        if not draining:
            return 0
        eligible = [b.node_id for b in brokers if b.alive and not b.draining]
        racks = {b.node_id: b.rack for b in brokers if b.rack}
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
            racks,
        )
        changes = [Change(*free[i], target) for i, target in plan]
        throttle = self._throttle(store)
        return len(await start_changes(store, changes, throttle, "drain", follows=True))
