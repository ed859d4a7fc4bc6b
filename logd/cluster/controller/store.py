"""The controller-backed ``MetadataStore`` (docs/internals.md "Metadata"; KRaft's shape).

The controller is a Raft group ``__cluster_metadata-0`` over the controller voters (the
first three brokers by id, or all if fewer; the others are learners), so every broker holds
and applies the same metadata log. Its log is a storage ``Log`` like any partition's
(``PartitionLog``); its entries are batches of metadata records (``records``), applied in
order to the :class:`~logd.cluster.controller.image.MetadataImage`.

Reads come from the applied image -- merged, for leaders and ISR, with the local Raft
groups (partitions hosted here) and the controller's leader table (the others).

Writes go to the controller leader: called there, they run at once; elsewhere they are
forwarded over the internal service. The leader serializes them (one at a time), checks
them against an image that has applied everything before its own term (so a check is never
made on a stale image), proposes one batch, and answers once the batch is applied. The
caller then waits until its own broker has applied and *published* that offset -- its
listeners (the replica manager) have run -- so "created" means "hosted here too". An update
computed from a stale image (``update_topic`` runs its ``change`` on the caller's image)
names the topic version it saw and is redone when the leader refuses it as stale.

Listeners hear ``(before, after)`` for every applied change, in log order, one at a time
(a publisher task awaits each). The image changes first, so a read may see a topic whose
partitions are still being created: those answer NOT_LEADER_OR_FOLLOWER / UNKNOWN (both
retriable) for that moment, as in Kafka.

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
from logd.cluster.controller.image import MetadataImage, change_records, topic_records
from logd.cluster.controller.records import decode_records, encode_batch, validate_write
from logd.cluster.driver import RaftDriver, RaftGroup
from logd.cluster.partition_log import PartitionLog
from logd.cluster.table import LeaderTable
from logd.errors import (
    ErrorCode,
    InvalidRequestError,
    InvalidTopicError,
    LogdError,
    NotControllerError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    error_for_code,
)
from logd.metadata.store import (
    METADATA_TOPIC,
    MetadataListener,
    PartitionAssignment,
    TopicRecord,
)
from logd.metadata.types import BrokerMeta, HostPort
from logd.v1 import cluster_pb2
from replication import Entry, EntryKind, NotLeaderError, ProposalDroppedError, Role, Snapshot

__all__ = ["METADATA_GROUP", "ControllerStore", "LocalLeadership"]

_log = logging.getLogger(__name__)

METADATA_GROUP: Final = "__cluster_metadata-0"
#: How long a write waits for a controller leader, or for its entry to apply.
WRITE_TIMEOUT_S: Final = 30.0
#: How long the leader waits, after a write applied, for every live broker to apply it too
#: (so that a topic created through one broker is known to all when the call returns).
PROPAGATION_TIMEOUT_S: Final = 5.0
_STALE_RETRIES: Final = 10

Forward = Callable[
    [int, cluster_pb2.ControllerWriteRequest], Awaitable[cluster_pb2.ControllerWriteResponse]
]
#: (topic, partition) -> (leader or None, term, isr) of a group hosted here, None if not.
LocalLeadership = Callable[[str, int], tuple[int | None, int, tuple[int, ...]] | None]


class _Stale(Exception):
    """A precondition named an older version of the topic: recompute and retry."""


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
        #: Take a snapshot and compact the metadata log every this many applied offsets.
        self.snapshot_every = snapshot_every
        self._compacting = False
        self._driver = driver
        self._storage = storage
        self.me = me
        self._peers = dict(peers)
        self.table = table
        self._clock = clock
        self._forward = forward
        self.image = MetadataImage()
        self.group: RaftGroup | None = None
        self._listeners: list[MetadataListener] = []
        self._queue: asyncio.Queue[
            tuple[int, list[tuple[TopicRecord | None, TopicRecord | None]]]
        ] = asyncio.Queue()
        self.published = -1
        self._publish_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._apply_waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self._write_lock = asyncio.Lock()
        #: Held while listeners run: whoever reads the image and then subscribes holds it
        #: in between, so that no change is missed (changes applied meanwhile are replayed).
        self.publish_lock = asyncio.Lock()
        self._leader_changed = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.local: LocalLeadership = lambda topic, partition: None
        #: Called when a write waits for the other brokers, and when this broker published
        #: new metadata: heartbeat now rather than at the next interval.
        self.propagating: Callable[[], None] = lambda: None
        self._term_applied = False
        #: Writes this broker started or carries out as leader, not yet answered.
        self.writes_in_flight = 0

    # -- life -----------------------------------------------------------------------------

    def start(self, *, campaign: bool) -> None:
        if self._storage.snapshot_data:
            self.image = MetadataImage.restore(self._storage.snapshot_data)
            self.published = self.image.applied
        applied = self.image.applied if self._storage.snapshot_data else None
        self.group = self._driver.add_group(
            METADATA_GROUP, self._storage, self, apply_entries=True, applied=applied,
            campaign=campaign,
        )  # fmt: skip
        self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())

    async def close(self) -> None:
        for task in [self._publisher, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._publisher, *self._tasks]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        error = NotControllerError("the broker is shutting down")
        for _, future in self._publish_waiters:
            if not future.done():
                future.set_exception(error)
        for _, future in self._apply_waiters.values():
            if not future.done():
                future.set_exception(error)

    @property
    def is_leader(self) -> bool:
        return self.group is not None and self.group.node.role is Role.LEADER

    @property
    def ready(self) -> bool:
        """Caught up: a controller leader is known and this image holds what it had applied
        at its last answer (on the leader: everything before its own term)."""
        if self.group is None or self.group.node.leader is None:
            return False
        if self.is_leader:
            return self._term_applied and self.published >= self.image.applied
        return 0 <= self.table.metadata_offset <= self.published

    # -- reads ----------------------------------------------------------------------------

    @property
    def cluster_id(self) -> str:
        return self.image.cluster_id

    @property
    def controller_id(self) -> int:
        leader = self.group.node.leader if self.group is not None else None
        return -1 if leader is None else leader

    def brokers(self) -> tuple[BrokerMeta, ...]:
        live = self.table.live
        out = []
        for node_id in sorted(set(self._peers) | set(self.image.brokers)):
            meta = self.image.brokers.get(node_id)
            if meta is None:
                address = self._peers[node_id]
                meta = BrokerMeta(node_id, address.host, address.port)
            alive = node_id == self.me.node_id or node_id in live
            out.append(BrokerMeta(meta.node_id, meta.host, meta.port, meta.rack, alive))
        return tuple(out)

    def topics(self) -> Mapping[str, TopicRecord]:
        """The applied topics (placement only: leaders and ISR come with :meth:`topic`)."""
        return self.image.topics

    def topic(self, name: str) -> TopicRecord | None:
        record = self.image.topic(name)
        if record is None:
            return None
        return TopicRecord(
            record.name,
            record.topic_id,
            tuple(self._merged(name, a) for a in record.partitions),
            record.configs,
        )

    def _merged(self, name: str, a: PartitionAssignment) -> PartitionAssignment:
        known = self.table.partitions.get((name, a.partition))
        local = self.local(name, a.partition)
        leader, epoch = -1, 0
        isr: tuple[int, ...] = ()
        if known is not None:
            leader, epoch, isr = known.leader, known.epoch, known.isr
        if local is not None and local[0] is not None and local[1] >= epoch:
            if local[0] != leader or local[1] != epoch:
                isr = local[2] if local[0] == self.me.node_id else (local[0],)
            elif local[0] == self.me.node_id:
                isr = local[2]
            leader, epoch = local[0], local[1]
        replicas = set(a.replicas)
        if leader not in replicas:
            leader = -1
        isr = tuple(r for r in a.replicas if r in set(isr))
        return PartitionAssignment(a.partition, a.replicas, leader, epoch, isr)

    def add_listener(self, listener: MetadataListener) -> None:
        self._listeners.append(listener)

    # -- writes (MetadataStore) -----------------------------------------------------------

    async def create_topic(self, record: TopicRecord) -> None:
        if record.name.startswith(METADATA_TOPIC):
            raise InvalidTopicError(f"topic name {record.name!r} is reserved")
        request = cluster_pb2.ControllerWriteRequest(
            records=topic_records(record),
            preconditions=[
                cluster_pb2.WritePrecondition(topic=record.name, must_not_exist=True, version=-1)
            ],
        )
        await self._write(request)

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        for _ in range(_STALE_RETRIES):
            before = self.image.topic(name)
            if before is None:
                raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
            after = change(before)
            assert after.name == name and after.topic_id == before.topic_id
            records = change_records(before, after)
            if not records:
                return
            request = cluster_pb2.ControllerWriteRequest(
                records=records,
                preconditions=[
                    cluster_pb2.WritePrecondition(
                        topic=name, must_exist=True, version=self.image.versions.get(name, -1)
                    )
                ],
            )
            try:
                await self._write(request)
                return
            except _Stale:
                continue
        raise NotControllerError(f"topic {name!r} kept changing; try again")

    async def delete_topic(self, name: str) -> None:
        record = self.image.topic(name)
        if record is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        request = cluster_pb2.ControllerWriteRequest(
            records=[
                cluster_pb2.MetadataRecord(
                    remove_topic=cluster_pb2.RemoveTopicRecord(topic_id=record.topic_id)
                )
            ],
            preconditions=[cluster_pb2.WritePrecondition(topic=name, must_exist=True, version=-1)],
        )
        await self._write(request)

    async def allocate_producer_ids(self, count: int) -> tuple[int, int]:
        """A block of ``count`` producer ids no broker will get again: one ProducerIdsRecord
        (the new high-water mark) built by the controller leader from its image, answered
        once committed and applied (KIP-730's AllocateProducerIds). Returns the block's
        ``(first, last)``, inclusive."""
        if count < 1:
            raise InvalidRequestError(f"a block of producer ids holds at least 1, not {count}")
        request = cluster_pb2.ControllerWriteRequest(
            allocate_producer_ids=True, producer_id_count=count
        )
        response = await self._write(request)
        return response.first_producer_id, response.first_producer_id + count - 1

    async def register_broker(self) -> None:
        me = self.me
        if self.image.brokers.get(me.node_id) == BrokerMeta(me.node_id, me.host, me.port, me.rack):
            return
        record = cluster_pb2.MetadataRecord(
            broker=cluster_pb2.RegisterBrokerRecord(
                node_id=me.node_id, host=me.host, port=me.port, rack=me.rack
            )
        )
        await self._write(cluster_pb2.ControllerWriteRequest(records=[record]), background=True)

    async def _write(
        self, request: cluster_pb2.ControllerWriteRequest, *, background: bool = False
    ) -> cluster_pb2.ControllerWriteResponse:
        """One write, wherever the leader is. ``background`` writes (registration, the
        cluster id) are not waited for by a shutting-down broker."""
        if background:
            return await self._write_once(request)
        self.writes_in_flight += 1
        try:
            return await self._write_once(request)
        finally:
            self.writes_in_flight -= 1

    async def _write_once(
        self, request: cluster_pb2.ControllerWriteRequest
    ) -> cluster_pb2.ControllerWriteResponse:
        request.src = self.me.node_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_TIMEOUT_S
        while True:
            leader = await self._await_leader(deadline)
            if leader == self.me.node_id:
                response = await self.execute(request)
            else:
                try:
                    response = await self._forward(leader, request)
                except LogdError as exc:
                    if not exc.retriable or loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.1)
                    continue
            if response.stale:
                raise _Stale()
            if response.error_code == ErrorCode.NOT_CONTROLLER and loop.time() < deadline:
                await asyncio.sleep(0.05)
                continue
            if response.error_code != ErrorCode.NONE:
                raise error_for_code(response.error_code, response.error_message)
            await self._wait_published(response.offset, deadline)
            return response

    async def _await_leader(self, deadline: float) -> int:
        loop = asyncio.get_running_loop()
        while True:
            leader = self.controller_id
            if leader >= 0:
                return leader
            left = deadline - loop.time()
            if left <= 0:
                raise NotControllerError("no controller leader is known; try again")
            self._leader_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leader_changed.wait(), min(left, 0.5))

    async def _wait_published(self, offset: int, deadline: float) -> None:
        if self.published >= offset:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._publish_waiters.append((offset, future))
        left = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(future, max(left, 0.1))
        except TimeoutError:
            raise RequestTimedOutError(
                f"metadata offset {offset} not applied on broker {self.me.node_id} in time"
            ) from None

    # -- the leader's side of a write -----------------------------------------------------

    async def execute_forwarded(
        self, request: cluster_pb2.ControllerWriteRequest
    ) -> cluster_pb2.ControllerWriteResponse:
        """A write another broker forwarded (its client waits: counted as in flight)."""
        self.writes_in_flight += 1
        try:
            return await self.execute(request)
        finally:
            self.writes_in_flight -= 1

    async def execute(
        self, request: cluster_pb2.ControllerWriteRequest
    ) -> cluster_pb2.ControllerWriteResponse:
        """Carry out a write as the controller leader (local or forwarded): check, propose,
        wait until applied. Errors come back in the answer, never raised."""
        try:
            async with self._write_lock:
                offset, first_pid = await self._execute_locked(request)
            await self._await_propagated(offset)
        except _Stale:
            return cluster_pb2.ControllerWriteResponse(stale=True, controller_id=self.controller_id)
        except LogdError as exc:
            return cluster_pb2.ControllerWriteResponse(
                error_code=int(exc.code),
                error_message=exc.message,
                controller_id=self.controller_id,
            )
        return cluster_pb2.ControllerWriteResponse(
            offset=offset, controller_id=self.controller_id, first_producer_id=first_pid
        )

    async def _execute_locked(self, request: cluster_pb2.ControllerWriteRequest) -> tuple[int, int]:
        group = self.group
        if group is None or not self.is_leader:
            raise NotControllerError(f"broker {self.me.node_id} is not the controller leader")
        await self._await_term_applied()
        validate_write(request)
        for pre in request.preconditions:
            self._check(pre)
        records = list(request.records)
        first_pid = -1
        if request.allocate_producer_ids:
            first_pid = self.image.next_producer_id
            records = [
                cluster_pb2.MetadataRecord(
                    producer_ids=cluster_pb2.ProducerIdsRecord(
                        node_id=request.src, first_id=first_pid, count=request.producer_id_count
                    )
                )
            ]
        if not records:
            return self.image.applied, first_pid
        node = group.node
        batch = encode_batch(records, base_offset=node.last_offset + 1, term=node.term,
                             now_ms=self._clock.now_ms())  # fmt: skip
        try:
            entry = self._driver.propose(group, batch, len(records))
        except (NotLeaderError, ProposalDroppedError) as exc:
            raise NotControllerError(f"broker {self.me.node_id}: {exc}") from None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._apply_waiters[entry.last_offset] = (entry.term, future)
        try:
            await asyncio.wait_for(future, WRITE_TIMEOUT_S)
        except TimeoutError:
            raise RequestTimedOutError("the metadata write did not commit in time") from None
        finally:
            self._apply_waiters.pop(entry.last_offset, None)
        return entry.last_offset, first_pid

    async def _await_propagated(self, offset: int) -> None:
        """Until every live broker reported the offset applied (bounded: a slow broker
        delays the answer, never fails it). Kafka answers CreateTopics before the other
        brokers know the topic and lets clients retry; waiting here spares them that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROPAGATION_TIMEOUT_S
        self.propagating()
        while not self.table.caught_up(offset) and loop.time() < deadline and self.is_leader:
            await asyncio.sleep(0.005)

    async def _await_term_applied(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_TIMEOUT_S
        while not self._term_applied:
            if not self.is_leader:
                raise NotControllerError(f"broker {self.me.node_id} is not the controller leader")
            if loop.time() > deadline:
                raise RequestTimedOutError("the controller has not caught up in time")
            await asyncio.sleep(0.01)

    def _check(self, pre: cluster_pb2.WritePrecondition) -> None:
        current = self.image.topic(pre.topic)
        if pre.must_not_exist and current is not None:
            raise TopicAlreadyExistsError(f"topic {pre.topic!r} already exists")
        if pre.must_exist and current is None:
            raise UnknownTopicOrPartitionError(f"topic {pre.topic!r} does not exist")
        if pre.version >= 0 and self.image.versions.get(pre.topic, -1) != pre.version:
            raise _Stale()

    # -- GroupListener: the controller group ----------------------------------------------

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None:
        self._leader_changed.set()
        self._term_applied = False
        if role is Role.LEADER:
            self.table.clear_reports()
        if leader is not None and self.group is not None:
            self.table.controller_id = leader

    def on_commit(self, commit: int) -> None:
        del commit

    def on_apply(self, entries: Sequence[Entry]) -> None:
        node = self.group.node if self.group is not None else None
        for entry in entries:
            deltas = []
            if entry.kind == EntryKind.NORMAL:
                deltas = self.image.apply(decode_records(entry.data), entry.last_offset)
            self.image.applied = max(self.image.applied, entry.last_offset)
            self._queue.put_nowait((entry.last_offset, deltas))
            waiter = self._apply_waiters.get(entry.last_offset)
            if waiter is not None and not waiter[1].done():
                if waiter[0] == entry.term:
                    waiter[1].set_result(None)
                else:
                    waiter[1].set_exception(
                        NotControllerError("the write was replaced by another leader's")
                    )
            leads = node is not None and node.role is Role.LEADER and entry.term == node.term
            if leads and not self._term_applied:
                self._term_applied = True
                self._on_term_applied()
        self._maybe_compact()

    def on_storage_error(self, error: LogdError) -> None:
        _log.error("the metadata log is unreadable (%s); this broker no longer follows it", error)

    def _maybe_compact(self) -> None:
        """After the pass (the entries just applied are durable and advanced): snapshot
        the image and drop the log behind it once enough has accumulated."""
        storage = self._storage
        if self._compacting or self.image.applied - storage.snapshot_offset < self.snapshot_every:
            return
        self._compacting = True

        def compact() -> None:
            self._compacting = False
            try:
                storage.compact(self.image.applied, self.image.snapshot())
            except LogdError as exc:
                _log.error("metadata snapshot failed: %s", exc)
            else:
                _log.info("metadata snapshot at offset %d", storage.snapshot_offset)

        asyncio.get_running_loop().call_soon(compact)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        before = dict(self.image.topics)
        self.image = MetadataImage.restore(snapshot.data)
        after = self.image.topics
        deltas: list[tuple[TopicRecord | None, TopicRecord | None]] = []
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                deltas.append((before.get(name), after.get(name)))
        self._queue.put_nowait((snapshot.meta.offset, deltas))

    def _on_term_applied(self) -> None:
        if not self.image.cluster_id:
            record = cluster_pb2.MetadataRecord(
                cluster_id=cluster_pb2.ClusterIdRecord(cluster_id=uuid.uuid4().hex)
            )
            self.spawn(
                self._write(cluster_pb2.ControllerWriteRequest(records=[record])), "cluster id"
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

    async def _publish_forever(self) -> None:
        while True:
            offset, deltas = await self._queue.get()
            async with self.publish_lock:
                for before, after in deltas:
                    for listener in list(self._listeners):
                        try:
                            await listener(before, after)
                        except Exception:
                            _log.exception("metadata listener failed at offset %d", offset)
                self.published = max(self.published, offset)
                self.propagating()
            waiters = self._publish_waiters
            if waiters:
                keep = []
                for at, future in waiters:
                    if at <= self.published:
                        if not future.done():
                            future.set_result(None)
                    else:
                        keep.append((at, future))
                self._publish_waiters = keep
