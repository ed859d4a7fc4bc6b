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

A failed fsync takes the metadata log offline (issue 24; no retry after a failed fsync):
the store reopens it from its files, cut to its recovery point (``reopen``, with backoff
while that fails), and restarts the group over it -- as a replica that lost data when it
has peers, which abstains from votes until its leader re-sent what was committed. Nothing
applied is unwound: an entry is applied only once the round that wrote it is durable, so
the cut never reaches below what the image holds (if it ever did, the store stays stopped
and says to restart the broker).

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
from logd.metadata.types import BrokerMeta, ControllerQuorum, HostPort
from logd.v1 import cluster_pb2

__all__ = ["METADATA_GROUP", "ControllerStore", "LocalLeadership", "Reopen"]

_log = logging.getLogger(__name__)

#: Opens the offline metadata log afresh from its files (cut to its recovery point) and
#: builds its ``PartitionLog`` again, from the old one (same side file and snapshot).
Reopen = Callable[[PartitionLog], Awaitable[PartitionLog]]

#: The offline metadata log is reopened after this, doubling while that fails.
_REOPEN_MIN_S: Final = 0.05
_REOPEN_MAX_S: Final = 5.0

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
        reopen: Reopen | None = None,
    ) -> None:
        self._driver = driver
        self._storage = storage
        self._reopen = reopen
        self._reopening: asyncio.Task[None] | None = None
        self.me = me
        self.table = table
        self.state = ControllerState(me, dict(peers), table)
        self.view = MetadataView(self.state)
        self.listener = ControllerListener(self.state, storage, snapshot_every=snapshot_every)
        self.writes = ControllerWrites(
            self.state, self.listener, driver, clock=clock, forward=forward
        )
        self.listener.on_term_applied = self._on_term_applied
        self.listener.on_offline = self._offline
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life -----------------------------------------------------------------------------

    def start(self, *, campaign: bool) -> None:
        self._start_group(self.listener.restore(), campaign=campaign)
        self.listener.start()

    def _start_group(self, applied: int | None, *, campaign: bool) -> None:
        self.state.group = self._driver.add_group(
            METADATA_GROUP, self._storage, self.listener, apply_entries=True, applied=applied,
            campaign=campaign, exempt=True,
            # Never quiet: broker liveness, which wakes quiet partitions, comes from it.
            quiesce=False,
        )  # fmt: skip

    # -- a failed fsync: reopen (module doc) ----------------------------------------------

    def _offline(self) -> None:
        if self._reopen is not None and self._reopening is None:
            task = asyncio.get_running_loop().create_task(
                self._reopen_forever(self._reopen), name="reopen-metadata-log"
            )
            self._reopening = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reopen_forever(self, reopen: Reopen) -> None:
        delay = _REOPEN_MIN_S
        said = False
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    storage = await reopen(self._storage)
                except LogdError as exc:
                    if not said:
                        _log.error("cannot reopen the metadata log (%s); trying again with "
                                   "backoff", exc)  # fmt: skip
                    said, delay = True, min(delay * 2, _REOPEN_MAX_S)
                    continue
                self._restart(storage)
                return
        finally:
            self._reopening = None

    def _restart(self, storage: PartitionLog) -> None:
        applied = self.state.image.applied
        if applied > max(storage.last_offset(), storage.snapshot_offset):
            self.state.failed = (f"the reopened metadata log ends at offset "
                                 f"{storage.last_offset()}, below what this broker applied "
                                 f"({applied}): restart the broker")  # fmt: skip
            _log.error("%s", self.state.failed)
            return
        self._driver.remove_group(METADATA_GROUP)
        conf = storage.conf_at(storage.last_offset())
        alone = conf.voters | conf.voters_outgoing <= {self.me.node_id}
        storage.lost_data = storage.lost_data or not alone
        self._storage = self.listener.storage = storage
        self._start_group(applied if applied >= 0 else None, campaign=alone)
        self.state.failed = None
        first, last = storage.first_offset(), storage.last_offset()
        _log.warning("the metadata log was reopened from its files at offsets [%d, %d]; "
                     "following it again", first, last)  # fmt: skip

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

    def move_bytes_left(self, topic: str, partition: int) -> int:
        known = self.table.partitions.get((topic, partition))
        return known.move_bytes if known is not None else -1

    def partition_bytes(self, topic: str, partition: int) -> int:
        known = self.table.partitions.get((topic, partition))
        return known.size if known is not None else 0

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

    async def set_controller_voters(self, voters: Sequence[int]) -> None:
        await self.writes.set_controller_voters(voters)

    async def unregister_broker(self, node_id: int) -> None:
        await self.writes.unregister_broker(node_id)

    def cluster_configs(self) -> Mapping[str, str]:
        return self.state.image.cluster_configs

    async def set_cluster_configs(self, configs: Mapping[str, str], delete: Sequence[str]) -> None:
        await self.writes.set_cluster_configs(configs, delete)

    def unregistered(self) -> set[int]:
        """The brokers removed from the cluster for good (issue 23)."""
        return self.state.image.unregistered

    def target_voters(self) -> tuple[int, ...]:
        """The controller quorum the metadata asks for (empty: none ever asked)."""
        return self.state.image.controller_voters

    def quorum(self) -> ControllerQuorum:
        """The metadata group's configuration here, and the quorum to reach (issue 23)."""
        group = self.group
        if group is None:
            return ControllerQuorum(-1, (), (), self.state.image.controller_voters)
        conf = group.node.conf
        voters = tuple(sorted(conf.voters))
        leader = group.node.leader
        return ControllerQuorum(
            -1 if leader is None else leader,
            voters,
            tuple(sorted(conf.learners)),
            self.state.image.controller_voters or voters,
        )

    @property
    def security(self) -> SecurityImage:
        return self.view.security

    async def register_broker(self) -> None:
        await self.writes.register_broker()

    async def register_joining(self, node_id: int, host: str, port: int) -> None:
        await self.writes.register_joining(node_id, host, port)

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
