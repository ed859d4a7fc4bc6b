"""The controller store's reads: the applied image, merged -- for leaders and ISR -- with
the local Raft groups (partitions hosted here) and the controller's leader table (the
others). Synchronous, never a write still in flight (``MetadataStore``'s contract).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from logd.cluster.controller.security_records import SecurityImage
from logd.cluster.controller.state import ControllerState
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.metadata.types import UNKNOWN_STORAGE, BrokerMeta

__all__ = ["LocalLeadership", "MetadataView"]

#: (topic, partition) -> (leader or None, term, isr) of a group hosted here, None if not.
LocalLeadership = Callable[[str, int], tuple[int | None, int, tuple[int, ...]] | None]


class MetadataView:
    """Reads over the shared :class:`ControllerState`."""

    def __init__(self, state: ControllerState) -> None:
        self._state = state
        self.local: LocalLeadership = lambda topic, partition: None

    @property
    def cluster_id(self) -> str:
        return self._state.image.cluster_id

    @property
    def controller_id(self) -> int:
        return self._state.controller_id

    @property
    def security(self) -> SecurityImage:
        """Users, ACLs and quotas as the applied metadata says."""
        return self._state.image.security

    def broker_ids(self) -> set[int]:
        """Every broker of the cluster: the configured peers (but those unregistered for
        good) and the registered ones."""
        image = self._state.image
        return (set(self._state.peers) - image.unregistered) | set(image.brokers)

    def brokers(self) -> tuple[BrokerMeta, ...]:
        state = self._state
        live = state.table.live
        out = []
        for node_id in sorted(self.broker_ids()):
            meta = state.image.brokers.get(node_id)
            if meta is None:
                address = state.peers[node_id]
                meta = BrokerMeta(node_id, address.host, address.port)
            me = node_id == state.me.node_id
            alive = me or node_id in live
            storage = state.local_storage() if me else state.table.storage.get(node_id)
            out.append(
                dataclasses.replace(
                    meta,
                    alive=alive,
                    storage=storage or UNKNOWN_STORAGE,
                    draining=node_id in state.image.draining,
                )
            )
        return tuple(out)

    def topics(self) -> Mapping[str, TopicRecord]:
        """The applied topics (placement only: leaders and ISR come with :meth:`topic`)."""
        return self._state.image.topics

    def topic(self, name: str) -> TopicRecord | None:
        record = self._state.image.topic(name)
        if record is None:
            return None
        return TopicRecord(
            record.name,
            record.topic_id,
            tuple(self._merged(name, a) for a in record.partitions),
            record.configs,
        )

    def _merged(self, name: str, a: PartitionAssignment) -> PartitionAssignment:
        known = self._state.table.partitions.get((name, a.partition))
        local = self.local(name, a.partition)
        me = self._state.me.node_id
        leader, epoch = -1, 0
        isr: tuple[int, ...] = ()
        if known is not None:
            leader, epoch, isr = known.leader, known.epoch, known.isr
        if local is not None and local[0] is not None and local[1] >= epoch:
            if local[0] != leader or local[1] != epoch:
                isr = local[2] if local[0] == me else (local[0],)
            elif local[0] == me:
                isr = local[2]
            leader, epoch = local[0], local[1]
        replicas = set(a.replicas)
        if leader not in replicas:
            leader = -1
        isr = tuple(r for r in a.replicas if r in set(isr))
        return dataclasses.replace(a, leader_id=leader, leader_epoch=epoch, isr=isr)
