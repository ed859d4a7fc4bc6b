"""The controller-backed ``MetadataStore`` (docs/internals.md "Metadata"; KRaft's shape).

The controller is a Raft group ``__cluster_metadata-0`` over the controller voters (the
first three brokers by id, or all if fewer; the others are learners), so every broker holds
and applies the same metadata log. Its log is a storage ``Log`` like any partition's
(``PartitionLog``); its entries are batches of metadata records (``records``), applied in
order to the :class:`~logd.cluster.controller.image.MetadataImage`.

:class:`ControllerStore` is the ``MetadataStore`` the core reads and writes; it composes
three parts over one shared ``state.ControllerState`` (this broker, its peers, the leader
table, the image, the group):

* ``view.MetadataView`` -- the reads (the image merged with the local Raft groups and the
  leader table, for leaders and ISR);
* ``writes.ControllerWrites`` -- the writes: forwarded to the controller leader, carried out
  there one at a time, answered once applied and published here;
* ``listener.ControllerListener`` -- the Raft group's listener: applies entries, publishes
  the changes to the metadata listeners in order, snapshots and compacts the log.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

from logd.clock import Clock
from logd.cluster.controller.listener import ControllerListener
from logd.cluster.controller.security_records import SecurityImage
from logd.cluster.controller.state import ControllerState
from logd.cluster.controller.view import LocalLeadership, MetadataView
from logd.cluster.controller.writes import ControllerWrites, Forward
from logd.cluster.driver import RaftDriver, RaftGroup
from logd.cluster.partition_log import PartitionLog
from logd.cluster.table import LeaderTable
from logd.errors import LogdError
from logd.metadata.security import SecurityChange
from logd.metadata.store import MetadataListener, TopicRecord
from logd.metadata.types import BrokerMeta, HostPort
from logd.v1 import cluster_pb2

__all__ = ["METADATA_GROUP", "ControllerStore", "LocalLeadership"]

_log = logging.getLogger(__name__)

METADATA_GROUP: Final = "__cluster_metadata-0"


class ControllerStore:
    """``MetadataStore`` over the controller group; see the module doc."""

    def __init__(
        self,
        driver: RaftDriver,
        storage: PartitionLog,
        *,
        me: BrokerMeta,
        peers: Mapping[int, HostPort],
        table: LeaderTable,
        clock: Clock,
        forward: Forward,
        snapshot_every: int = 10_000,
    ) -> None:
        self._driver = driver
        self._storage = storage
        self.me = me
        self.table = table
        self.state = ControllerState(me, dict(peers), table)
        self.view = MetadataView(self.state)
        self.listener = ControllerListener(self.state, storage, snapshot_every=snapshot_every)
        self.writes = ControllerWrites(
            self.state, self.listener, driver, clock=clock, forward=forward
        )
        self.listener.on_term_applied = self._on_term_applied
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life -----------------------------------------------------------------------------

    def start(self, *, campaign: bool) -> None:
        applied = self.listener.restore()
        self.state.group = self._driver.add_group(
            METADATA_GROUP, self._storage, self.listener, apply_entries=True, applied=applied,
            campaign=campaign, exempt=True,
            # Never quiet: broker liveness, which wakes quiet partitions, comes from it.
            quiesce=False,
        )  # fmt: skip
        self.listener.start()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.listener.close()

    @property
    def group(self) -> RaftGroup | None:
        return self.state.group

    @property
    def failed(self) -> str | None:
        """Why the metadata log stopped (a failed fsync, damage); None while it works."""
        return self.state.failed

    @property
    def is_leader(self) -> bool:
        return self.state.is_leader

    @property
    def ready(self) -> bool:
        """Caught up: a controller leader is known and this image holds what it had applied
        at its last answer (on the leader: everything before its own term)."""
        group = self.state.group
        if group is None or group.node.leader is None:
            return False
        if self.is_leader:
            return self.state.term_applied and self.published >= self.state.image.applied
        return 0 <= self.table.metadata_offset <= self.published

    @property
    def published(self) -> int:
        """The last offset whose changes every listener has seen, on this broker."""
        return self.listener.published

    @property
    def publish_lock(self) -> asyncio.Lock:
        return self.listener.publish_lock

    @property
    def writes_in_flight(self) -> int:
        return self.writes.writes_in_flight

    @property
    def local(self) -> LocalLeadership:
        return self.view.local

    @local.setter
    def local(self, local: LocalLeadership) -> None:
        self.view.local = local

    @property
    def propagating(self) -> Callable[[], None]:
        return self.state.propagating

    @propagating.setter
    def propagating(self, poke: Callable[[], None]) -> None:
        self.state.propagating = poke

    # -- reads (MetadataStore) ------------------------------------------------------------

    @property
    def cluster_id(self) -> str:
        return self.view.cluster_id

    @property
    def controller_id(self) -> int:
        return self.view.controller_id

    def broker_ids(self) -> set[int]:
        return self.view.broker_ids()

    def brokers(self) -> tuple[BrokerMeta, ...]:
        return self.view.brokers()

    def topics(self) -> Mapping[str, TopicRecord]:
        return self.view.topics()

    def topic(self, name: str) -> TopicRecord | None:
        return self.view.topic(name)

    def add_listener(self, listener: MetadataListener) -> None:
        self.listener.add_listener(listener)

    # -- writes (MetadataStore) -----------------------------------------------------------

    async def create_topic(self, record: TopicRecord) -> None:
        await self.writes.create_topic(record)

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        await self.writes.update_topic(name, change)

    async def delete_topic(self, name: str) -> None:
        await self.writes.delete_topic(name)

    async def allocate_producer_ids(self, count: int) -> tuple[int, int]:
        return await self.writes.allocate_producer_ids(count)

    async def write_security(self, changes: Sequence[SecurityChange]) -> None:
        await self.writes.write_security(changes)

    async def set_draining(self, node_id: int, draining: bool) -> None:
        await self.writes.set_draining(node_id, draining)

    @property
    def security(self) -> SecurityImage:
        return self.view.security

    async def register_broker(self) -> None:
        await self.writes.register_broker()

    async def execute_forwarded(
        self, request: cluster_pb2.ControllerWriteRequest
    ) -> cluster_pb2.ControllerWriteResponse:
        """A write another broker forwarded (its client waits: counted as in flight)."""
        return await self.writes.execute_forwarded(request)

    # -- background -----------------------------------------------------------------------

    def _on_term_applied(self) -> None:
        if not self.state.image.cluster_id:
            record = cluster_pb2.MetadataRecord(
                cluster_id=cluster_pb2.ClusterIdRecord(cluster_id=uuid.uuid4().hex)
            )
            self.spawn(
                self.writes.write(cluster_pb2.ControllerWriteRequest(records=[record])),
                "cluster id",
            )

    def spawn(self, coro: Awaitable[object], what: str) -> None:
        async def run() -> None:
            try:
                await coro
            except LogdError as exc:
                _log.warning("controller: %s failed: %s", what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
