"""The controller store's write path: every write goes to the controller leader -- called
there, it runs at once; elsewhere it is forwarded over the internal service (``forward``).

The leader serializes writes (one at a time), checks them against an image that has
applied everything before its own term (so a check is never made on a stale image),
proposes one batch, and answers once the batch is applied (``listener.expect_apply``) and
every live broker reported it applied (bounded). The caller then waits until its own broker
has applied and *published* that offset -- its listeners (the replica manager) have run --
so "created" means "hosted here too". An update computed from a stale image
(``update_topic`` runs its ``change`` on the caller's image) names the topic version it saw
and is redone when the leader refuses it as stale.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

from logd.clock import Clock
from logd.cluster.controller.image import (
    broker_record,
    change_records,
    cluster_config_record,
    drain_record,
    topic_records,
    unregister_record,
    voters_record,
)
from logd.cluster.controller.listener import ControllerListener
from logd.cluster.controller.records import encode_batch, validate_write
from logd.cluster.controller.security_records import change_record
from logd.cluster.controller.state import ControllerState
from logd.cluster.driver import RaftDriver
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
from logd.metadata.security import SecurityChange
from logd.metadata.store import METADATA_TOPIC, TopicRecord
from logd.metadata.types import BrokerMeta
from logd.v1 import cluster_pb2
from replication import NotLeaderError, ProposalDroppedError

__all__ = ["PROPAGATION_TIMEOUT_S", "WRITE_TIMEOUT_S", "ControllerWrites", "Forward"]

#: How long a write waits for a controller leader, or for its entry to apply.
WRITE_TIMEOUT_S: Final = 30.0
#: How long the leader waits, after a write applied, for every live broker to apply it too
#: (so that a topic created through one broker is known to all when the call returns).
PROPAGATION_TIMEOUT_S: Final = 5.0
#: Time allowed per record of a write for this broker to apply it (see ``_write_once``).
PUBLISH_S_PER_RECORD: Final = 0.02
_STALE_RETRIES: Final = 10
#: A write of at least this many records is built and checked on a worker thread: a
#: 10,000-partition topic is ~0.1 s of CPU there, seconds of wall time on a loaded machine,
#: and a loop held that long sends no heartbeat -- the controller lost its leadership in
#: the middle of the create (issue 21). The worker gives the GIL back every few ms.
OFF_LOOP_RECORDS: Final = 1000

Forward = Callable[
    [int, cluster_pb2.ControllerWriteRequest], Awaitable[cluster_pb2.ControllerWriteResponse]
]


class _Stale(Exception):
    """A precondition named an older version of the topic: recompute and retry."""


class ControllerWrites:
    """The ``MetadataStore`` writes, and the leader's execution of them."""

    def __init__(
        self,
        state: ControllerState,
        listener: ControllerListener,
        driver: RaftDriver,
        *,
        clock: Clock,
        forward: Forward,
    ) -> None:
        self._state = state
        self._listener = listener
        self._driver = driver
        self._clock = clock
        self._forward = forward
        self._write_lock = asyncio.Lock()
        #: Writes this broker started or carries out as leader, not yet answered.
        self.writes_in_flight = 0

    async def create_topic(self, record: TopicRecord) -> None:
        if record.name.startswith(METADATA_TOPIC):
            raise InvalidTopicError(f"topic name {record.name!r} is reserved")
        if len(record.partitions) < OFF_LOOP_RECORDS:
            records = topic_records(record)
        else:
            records = await asyncio.to_thread(topic_records, record)
        request = cluster_pb2.ControllerWriteRequest(
            records=records,
            preconditions=[
                cluster_pb2.WritePrecondition(topic=record.name, must_not_exist=True, version=-1)
            ],
        )
        await self.write(request)

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        for _ in range(_STALE_RETRIES):
            image = self._state.image
            before = image.topic(name)
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
                        topic=name, must_exist=True, version=image.versions.get(name, -1)
                    )
                ],
            )
            try:
                await self.write(request)
                return
            except _Stale:
                continue
        raise NotControllerError(f"topic {name!r} kept changing; try again")

    async def delete_topic(self, name: str) -> None:
        record = self._state.image.topic(name)
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
        await self.write(request)

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
        response = await self.write(request)
        return response.first_producer_id, response.first_producer_id + count - 1

    async def write_security(self, changes: Sequence[SecurityChange]) -> None:
        """Users, ACLs or quotas changed (``security_records``), written as one entry and
        answered once applied here. Removing what is not there is a no-op on apply."""
        if changes:
            records = [change_record(c) for c in changes]
            await self.write(cluster_pb2.ControllerWriteRequest(records=records))

    async def set_draining(self, node_id: int, draining: bool) -> None:
        """Start (or end) decommissioning broker ``node_id`` (issue 23)."""
        record = drain_record(node_id, draining=draining)
        await self.write(cluster_pb2.ControllerWriteRequest(records=[record]))

    async def set_cluster_configs(self, configs: Mapping[str, str], delete: Sequence[str]) -> None:
        """Set and delete cluster configs (issue 23), one entry, answered once applied here."""
        records = [cluster_config_record(k, v) for k, v in sorted(configs.items())]
        records += [cluster_config_record(k, None) for k in sorted(delete)]
        if records:
            await self.write(cluster_pb2.ControllerWriteRequest(records=records))

    async def unregister_broker(self, node_id: int) -> None:
        """Remove broker ``node_id`` from the cluster for good (issue 23; checked by the
        caller: ``logd.broker.decommission``)."""
        await self.write(cluster_pb2.ControllerWriteRequest(records=[unregister_record(node_id)]))

    async def set_controller_voters(self, voters: Sequence[int]) -> None:
        """The controller quorum to reach (issue 23); the leader's quorum mover does it."""
        await self.write(cluster_pb2.ControllerWriteRequest(records=[voters_record(voters)]))

    async def register_joining(self, node_id: int, host: str, port: int) -> None:
        """Register a broker that asks to join (issue 23) at its internal address, unless it
        is registered there already (it registers itself fully once it holds the metadata).
        A broker that is alive elsewhere under that id is refused: two brokers, one id."""
        known = self._state.image.brokers.get(node_id)
        if known is not None and (known.host, known.port) == (host, port):
            return
        if node_id in self._state.table.live:
            where = f"{known.host}:{known.port}" if known is not None else "a configured address"
            raise InvalidRequestError(f"broker {node_id} is alive at {where} already")
        if node_id < 0 or not host or not 0 < port < 65536:
            raise InvalidRequestError(f"broker {node_id} at {host}:{port} cannot join")
        record = broker_record(BrokerMeta(node_id, host, port))
        await self.write(cluster_pb2.ControllerWriteRequest(records=[record]))

    async def register_broker(self) -> None:
        me = dataclasses.replace(self._state.me, alive=True)
        if self._state.image.brokers.get(me.node_id) == me:
            return
        record = broker_record(me)
        await self.write(cluster_pb2.ControllerWriteRequest(records=[record]), background=True)

    async def write(
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
        request.src = self._state.me.node_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_TIMEOUT_S
        while True:
            leader = await self._await_leader(deadline)
            if leader == self._state.me.node_id:
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
            # Committed. Applying it here can take long when it brings thousands of
            # partitions (each a new log): more time for more records, so that a topic
            # that is created is not reported as timed out (a retry then finds it exists).
            more = PUBLISH_S_PER_RECORD * len(request.records)
            await self._listener.wait_published(response.offset, max(deadline, loop.time() + more))
            return response

    async def _await_leader(self, deadline: float) -> int:
        loop = asyncio.get_running_loop()
        while True:
            leader = self._state.controller_id
            if leader >= 0:
                return leader
            left = deadline - loop.time()
            if left <= 0:
                raise NotControllerError("no controller leader is known; try again")
            self._state.leader_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state.leader_changed.wait(), min(left, 0.5))

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
            if len(request.records) < OFF_LOOP_RECORDS:
                validate_write(request)
            else:
                await asyncio.to_thread(validate_write, request)
            async with self._write_lock:
                offset, first_pid = await self._execute_locked(request)
            await self._await_propagated(offset)
        except _Stale:
            return cluster_pb2.ControllerWriteResponse(
                stale=True, controller_id=self._state.controller_id
            )
        except LogdError as exc:
            return cluster_pb2.ControllerWriteResponse(
                error_code=int(exc.code),
                error_message=exc.message,
                controller_id=self._state.controller_id,
            )
        return cluster_pb2.ControllerWriteResponse(
            offset=offset, controller_id=self._state.controller_id, first_producer_id=first_pid
        )

    async def _execute_locked(self, request: cluster_pb2.ControllerWriteRequest) -> tuple[int, int]:
        group = self._state.group
        if group is None or not self._state.is_leader:
            raise NotControllerError(
                f"broker {self._state.me.node_id} is not the controller leader"
            )
        await self._await_term_applied()
        for pre in request.preconditions:
            self._check(pre)
        records = list(request.records)
        first_pid = -1
        if request.allocate_producer_ids:
            first_pid = self._state.image.next_producer_id
            records = [
                cluster_pb2.MetadataRecord(
                    producer_ids=cluster_pb2.ProducerIdsRecord(
                        node_id=request.src, first_id=first_pid, count=request.producer_id_count
                    )
                )
            ]
        if not records:
            return self._state.image.applied, first_pid
        node = group.node
        batch = encode_batch(records, base_offset=node.last_offset + 1, term=node.term,
                             now_ms=self._clock.now_ms())  # fmt: skip
        try:
            entry = self._driver.propose(group, batch, len(records))
        except (NotLeaderError, ProposalDroppedError) as exc:
            raise NotControllerError(f"broker {self._state.me.node_id}: {exc}") from None
        future = self._listener.expect_apply(entry.last_offset, entry.term)
        try:
            await asyncio.wait_for(future, WRITE_TIMEOUT_S)
        except TimeoutError:
            raise RequestTimedOutError("the metadata write did not commit in time") from None
        finally:
            self._listener.forget_apply(entry.last_offset)
        return entry.last_offset, first_pid

    async def _await_propagated(self, offset: int) -> None:
        """Until every live broker reported the offset applied (bounded: a slow broker
        delays the answer, never fails it). Kafka answers CreateTopics before the other
        brokers know the topic and lets clients retry; waiting here spares them that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROPAGATION_TIMEOUT_S
        self._state.propagating()
        while (
            not self._state.table.caught_up(offset)
            and loop.time() < deadline
            and self._state.is_leader
        ):
            await asyncio.sleep(0.005)

    async def _await_term_applied(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_TIMEOUT_S
        while not self._state.term_applied:
            if not self._state.is_leader:
                raise NotControllerError(
                    f"broker {self._state.me.node_id} is not the controller leader"
                )
            if loop.time() > deadline:
                raise RequestTimedOutError("the controller has not caught up in time")
            await asyncio.sleep(0.01)

    def _check(self, pre: cluster_pb2.WritePrecondition) -> None:
        current = self._state.image.topic(pre.topic)
        if pre.must_not_exist and current is not None:
            raise TopicAlreadyExistsError(f"topic {pre.topic!r} already exists")
        if pre.must_exist and current is None:
            raise UnknownTopicOrPartitionError(f"topic {pre.topic!r} does not exist")
        if pre.version >= 0 and self._state.image.versions.get(pre.topic, -1) != pre.version:
            raise _Stale()

    def _not_leader(self) -> NotControllerError:
        return NotControllerError(f"broker {self._state.me.node_id} is not the controller leader")
