"""Decommissioning a broker, the metadata side (issue 23): start one, undo one, report.

``decommission`` marks the broker *draining* in the metadata (``set_draining``); the
controller leader then moves its replicas away a few partitions at a time
(``logd.cluster.drainer``), and placement puts nothing new on it. It is refused when the
other brokers (those not draining) could not hold some partition it hosts at its
replication factor. ``recommission`` clears the mark and cancels the moves off the broker
still in progress (each goes back: no data was deleted yet). ``list`` tells, per draining
broker, how many partitions it still hosts and how many are moving off it: 0 hosted means
drained -- it can be stopped with nothing under-replicated. ``unregister`` then removes a
drained, stopped broker from the cluster for good (Kafka's UnregisterBroker), refusing while
it could still hold anything: alive, not decommissioned, a replica left, a controller voter.

Ownership: used on the broker's event loop; holds no state of its own.
"""

from __future__ import annotations

import contextlib

from logd.broker.api import BrokerDecommission
from logd.broker.moves import PartitionMoves
from logd.errors import (
    BrokerIdNotRegisteredError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    NoReassignmentInProgressError,
)
from logd.metadata.store import MetadataStore
from partitioning.drain import short_of_brokers

__all__ = ["Decommissions"]


class Decommissions:
    """Decommission and recommission brokers through the metadata store."""

    def __init__(self, store: MetadataStore, moves: PartitionMoves) -> None:
        self._store = store
        self._moves = moves

    async def decommission(self, node: int) -> None:
        brokers = {b.node_id: b for b in self._store.brokers()}
        if node not in brokers:
            raise InvalidRequestError(f"no broker {node} (the cluster has {sorted(brokers)})")
        if brokers[node].draining:
            return
        remaining = [n for n, b in brokers.items() if n != node and not b.draining]
        placements = [a.replicas for t in self._store.topics().values() for a in t.partitions]
        short = short_of_brokers(placements, node, remaining)
        if short:
            raise InvalidReplicationFactorError(
                f"decommissioning broker {node} would leave {len(remaining)} brokers for "
                f"partitions of replication factor {short[-1]}"
            )
        await self._store.set_draining(node, True)

    async def recommission(self, node: int) -> None:
        brokers = {b.node_id: b for b in self._store.brokers()}
        if node not in brokers or not brokers[node].draining:
            raise InvalidRequestError(f"broker {node} is not being decommissioned")
        await self._store.set_draining(node, False)
        for name, record in sorted(self._store.topics().items()):
            for a in record.partitions:
                if a.moving and node in a.removing:
                    with contextlib.suppress(NoReassignmentInProgressError):
                        # (it completed meanwhile: that partition stays moved)
                        await self._moves.cancel(name, a.partition, internal=True)

    async def unregister(self, node: int) -> None:
        """Remove broker ``node`` from the cluster for good; see the module doc."""
        brokers = {b.node_id: b for b in self._store.brokers()}
        broker = brokers.get(node)
        if broker is None:
            raise BrokerIdNotRegisteredError(
                f"no broker {node} (the cluster has {sorted(brokers)})"
            )
        if not broker.draining:
            raise InvalidRequestError(
                f"broker {node} is not decommissioned: decommission it, let it drain, stop it"
            )
        hosted = sum(
            node in a.replicas for t in self._store.topics().values() for a in t.partitions
        )
        if hosted:
            raise InvalidRequestError(f"broker {node} still hosts {hosted} partitions")
        quorum = self._store.quorum()
        if node in quorum.voters or node in quorum.target:
            raise InvalidRequestError(
                f"broker {node} is a controller voter: remove it from the quorum first"
            )
        if broker.alive:
            raise InvalidRequestError(f"broker {node} is alive: stop it first")
        await self._store.unregister_broker(node)

    def list(self) -> list[BrokerDecommission]:
        draining = sorted(b.node_id for b in self._store.brokers() if b.draining)
        out = []
        for node in draining:
            hosted = moving = 0
            for record in self._store.topics().values():
                for a in record.partitions:
                    hosted += node in a.replicas
                    moving += a.moving and node in a.removing
            out.append(BrokerDecommission(node, hosted, moving))
        return out
