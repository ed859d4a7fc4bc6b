"""The broker's consumer-group service: what a front end calls for FindCoordinator, JoinGroup,
SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, ListGroups,
DescribeGroups and DeleteGroups (DESIGN.md principle 7: protocol-neutral, in the types of
``logd.groups``).

Routing: a group belongs to partition ``offsets_partition_for(group_id, n)`` of
``__consumer_offsets``, ``n`` being the topic's partition count; the request goes to the
:class:`~logd.broker.groups.driver.CoordinatorDriver` of that partition, which exists exactly
while this broker leads it. A group of a partition led elsewhere is answered NOT_COORDINATOR
(the client asks FindCoordinator again); a driver still replaying answers
COORDINATOR_LOAD_IN_PROGRESS (the core does).

Drivers follow leadership and nothing else: :meth:`GroupService.start` registers with
``ReplicaManager.add_leadership_listener`` (which replays the partitions led at that moment);
a partition of ``__consumer_offsets`` led here gets a driver that loads and serves, one no
longer led has its driver unloaded. In single-node mode this broker leads every partition
from the start; with replication (issue 5) the Raft driver announces the changes.

Ownership: owned by the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Collection, Sequence

from logd.broker.groups.driver import CoordinatorDriver
from logd.broker.groups.offsets_topic import CreateTopics, OffsetsTopic
from logd.broker.groups.settings import GroupSettings
from logd.broker.replicas import ReplicaManager
from logd.clock import Clock
from logd.errors import (
    CoordinatorNotAvailableError,
    ErrorCode,
    InvalidGroupIdError,
    LogdError,
    NotCoordinatorError,
)
from logd.groups.config import CoordinatorConfig
from logd.groups.consumer_group import (
    ConsumerGroupConfig,
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.consumer_ops import DescribedConsumerGroup
from logd.groups.coordinator import GroupCoordinator
from logd.groups.log_format import MAX_STRING_BYTES
from logd.groups.messages import (
    DeleteGroupResult,
    DeleteGroupsResponse,
    DescribedGroup,
    GroupListing,
    GroupOffsets,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListGroupsResponse,
    OffsetCommitPartitionResult,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
    TopicPartition,
)
from logd.groups.partition import OFFSETS_TOPIC, offsets_partition_for
from logd.groups.state import GroupState
from logd.metadata.store import MetadataStore, TopicRecord
from partitioning import decode_assignment

__all__ = ["CoordinatorLocation", "GroupService"]


@dataclasses.dataclass(frozen=True, slots=True)
class CoordinatorLocation:
    """FindCoordinator's answer for one group."""

    group_id: str
    error: LogdError | None = None
    node_id: int = -1
    host: str = ""
    port: int = -1
    partition: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class _TopicView:
    """What a consumer-protocol heartbeat reads of the topics, at one topic-set version."""

    version: int
    counts: dict[str, int]
    ids: dict[str, uuid.UUID]


def _owned(assignment: bytes) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in decode_assignment(assignment).partitions]


class GroupService:
    """Consumer groups on this broker. See the module docstring."""

    def __init__(
        self,
        settings: GroupSettings,
        store: MetadataStore,
        replicas: ReplicaManager,
        create_topics: CreateTopics,
        clock: Clock,
        *,
        node_id: int,
    ) -> None:
        self.settings = settings
        self._node_id = node_id
        self._store = store
        self._replicas = replicas
        self._clock = clock
        self.offsets_topic = OffsetsTopic(settings, store, create_topics)
        self.drivers: dict[int, CoordinatorDriver] = {}
        self._started = False
        #: Moves whenever a topic comes or goes or changes its partition count; the topic
        #: view heartbeats read is rebuilt only then (and regexes matched again).
        self._topics_version = 0
        self._view: _TopicView | None = None
        store.add_listener(self._on_topic_change)

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        self._replicas.add_leadership_listener(self._on_leadership)

    def close(self) -> None:
        """Unload every coordinator (waiting requests answer NOT_COORDINATOR)."""
        if self._started:
            self._started = False
            self._replicas.remove_leadership_listener(self._on_leadership)
        drivers, self.drivers = self.drivers, {}
        for driver in drivers.values():
            driver.unload()

    def _on_leadership(self, topic: str, partition: int, is_leader: bool, epoch: int) -> None:
        if topic != OFFSETS_TOPIC:
            return
        old = self.drivers.pop(partition, None)
        if old is not None:
            old.unload()
        if not is_leader:
            return
        hosted = self._replicas.get(TopicPartition(topic, partition))
        count = self.offsets_topic.partitions()
        assert hosted is not None and count is not None, "a led partition is hosted"
        driver = CoordinatorDriver(
            hosted,
            epoch,
            self._coordinator_config(partition, count),
            self._clock,
            commit_timeout_ms=self.settings.offsets_commit_timeout_ms,
            topic_ids=self._topic_ids,
        )
        self.drivers[partition] = driver
        driver.start()

    async def _on_topic_change(self, before: TopicRecord | None, after: TopicRecord | None) -> None:
        """A metadata listener: leader and replica changes leave the topic view as it is."""
        if (
            before is None
            or after is None
            or len(before.partitions) != len(after.partitions)
            or before.topic_id != after.topic_id
        ):
            self._topics_version += 1

    def _topic_view(self) -> _TopicView:
        """Partition counts and ids of the non-internal topics, as of the last change."""
        view = self._view
        if view is None or view.version != self._topics_version:
            topics = self._store.topics().items()
            counts = {
                name: len(record.partitions) for name, record in topics if not record.internal
            }
            view = self._view = _TopicView(self._topics_version, counts, self._topic_ids())
        return view

    def _topic_ids(self) -> dict[str, uuid.UUID]:
        """Every topic's id by name (consumer-group records name topics by id)."""
        ids = {}
        for name, record in self._store.topics().items():
            try:
                ids[name] = uuid.UUID(hex=record.topic_id)
            except ValueError:
                continue  # no id (a topic made before ids existed): named by its name's hash
        return ids

    def _coordinator_config(self, partition: int, partitions: int) -> CoordinatorConfig:
        s = self.settings
        return CoordinatorConfig(
            partition=partition,
            partitions=partitions,
            initial_rebalance_delay_ms=s.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=s.group_min_session_timeout_ms,
            max_session_timeout_ms=s.group_max_session_timeout_ms,
            offset_metadata_max_bytes=s.offset_metadata_max_bytes,
            offsets_retention_ms=s.offsets_retention_minutes * 60_000,
            offsets_retention_check_interval_ms=s.offsets_retention_check_interval_ms,
            consumer=ConsumerGroupConfig(
                session_timeout_ms=s.group_consumer_session_timeout_ms,
                heartbeat_interval_ms=s.group_consumer_heartbeat_interval_ms,
                max_size=s.group_consumer_max_size,
                regex_refresh_interval_ms=s.group_consumer_regex_refresh_interval_ms,
            ),
        )

    # -- routing --------------------------------------------------------------------------

    def _route(self, group_id: str) -> CoordinatorDriver | LogdError:
        """The driver coordinating ``group_id`` here, else why none does."""
        if not group_id or len(group_id.encode()) > MAX_STRING_BYTES:
            return InvalidGroupIdError("a group id is 1 to 32767 bytes of UTF-8")
        count = self.offsets_topic.partitions()
        if count is None:
            return CoordinatorNotAvailableError(f"{OFFSETS_TOPIC} does not exist yet")
        partition = offsets_partition_for(group_id, count)
        driver = self.drivers.get(partition)
        if driver is None:
            return NotCoordinatorError(
                f"broker {self._node_id} does not coordinate group {group_id!r} "
                f"({OFFSETS_TOPIC}-{partition})"
            )
        return driver

    # -- FindCoordinator ------------------------------------------------------------------

    async def find_coordinators(self, group_ids: Sequence[str]) -> list[CoordinatorLocation]:
        """Who coordinates each group: the leader of its ``__consumer_offsets`` partition
        (the topic is created on first use, as Kafka does)."""
        try:
            count = await self.offsets_topic.ensure()
        except LogdError as exc:
            return [CoordinatorLocation(g, exc) for g in group_ids]
        record = self._store.topic(OFFSETS_TOPIC)
        assert record is not None
        brokers = {b.node_id: b for b in self._store.brokers()}
        answers = []
        for group_id in group_ids:
            if not group_id:
                answers.append(CoordinatorLocation(group_id, InvalidGroupIdError("empty group id")))
                continue
            partition = offsets_partition_for(group_id, count)
            leader = record.partitions[partition].leader_id
            broker = brokers.get(leader)
            if broker is None or not broker.alive:
                error = CoordinatorNotAvailableError(
                    f"{OFFSETS_TOPIC}-{partition} has no leader right now"
                )
                answers.append(CoordinatorLocation(group_id, error, partition=partition))
                continue
            answers.append(
                CoordinatorLocation(group_id, None, leader, broker.host, broker.port, partition)
            )
        return answers

    # -- membership -----------------------------------------------------------------------

    async def join_group(self, req: JoinGroupRequest) -> JoinGroupResponse:
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return JoinGroupResponse(target.code, req.member_id, error_message=target.message)
        view = self._topic_view()  # read when the group is a consumer group
        body = await target.call(
            lambda rid, now: target.core.join_group(rid, req, now, view.counts, view.version)
        )
        assert isinstance(body, JoinGroupResponse)
        return body

    async def consumer_group_heartbeat(self, req: ConsumerHeartbeat) -> ConsumerHeartbeatAnswer:
        """KIP-848: the coordinator assigns with the partition counts of the topics as this
        broker's metadata has them now."""
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return ConsumerHeartbeatAnswer(target.code, req.member_id, message=target.message)
        view = self._topic_view()
        body = await target.call(
            lambda rid, now: target.core.consumer_group_heartbeat(
                rid, req, view.counts, now, view.ids, view.version
            )
        )
        assert isinstance(body, ConsumerHeartbeatAnswer)
        return body

    async def describe_consumer_groups(
        self, group_ids: Sequence[str]
    ) -> list[DescribedConsumerGroup]:
        out: list[DescribedConsumerGroup] = []
        for group_id in group_ids:
            target = self._route(group_id)
            if isinstance(target, LogdError):
                out.append(DescribedConsumerGroup(group_id, target.code, message=target.message))
            else:
                out.extend(target.core.describe_consumer_groups([group_id]))
        return out

    async def sync_group(self, req: SyncGroupRequest) -> SyncGroupResponse:
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return SyncGroupResponse(target.code, error_message=target.message)
        body = await target.call(lambda rid, now: target.core.sync_group(rid, req, now))
        assert isinstance(body, SyncGroupResponse)
        return body

    async def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResponse:
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return HeartbeatResponse(target.code, target.message)
        body = await target.call(lambda rid, now: target.core.heartbeat(rid, req, now))
        assert isinstance(body, HeartbeatResponse)
        return body

    async def leave_group(self, req: LeaveGroupRequest) -> LeaveGroupResponse:
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return LeaveGroupResponse(target.code, error_message=target.message)
        body = await target.call(lambda rid, now: target.core.leave_group(rid, req, now))
        assert isinstance(body, LeaveGroupResponse)
        return body

    # -- offsets --------------------------------------------------------------------------

    async def commit_offsets(self, req: OffsetCommitRequest) -> OffsetCommitResponse:
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            results = tuple(
                OffsetCommitPartitionResult(p.topic, p.partition, target.code)
                for p in req.partitions
            )
            return OffsetCommitResponse(results, target.message)
        body = await target.call(lambda rid, now: target.core.commit_offsets(rid, req, now))
        assert isinstance(body, OffsetCommitResponse)
        return body

    async def fetch_offsets(
        self,
        group_id: str,
        partitions: Sequence[TopicPartition] | None = None,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> OffsetFetchResponse:
        """``member_id``/``member_epoch``: a KIP-848 member's fetch, fenced by its epoch."""
        target = self._route(group_id)
        if isinstance(target, LogdError):
            return OffsetFetchResponse(target.code, error_message=target.message)
        return target.core.fetch_offsets(group_id, partitions, member_id, member_epoch)

    async def delete_offsets(self, req: OffsetDeleteRequest) -> OffsetDeleteResponse:
        """Delete some of a group's committed offsets (KIP-496)."""
        target = self._route(req.group_id)
        if isinstance(target, LogdError):
            return OffsetDeleteResponse(target.code)
        body = await target.call(lambda rid, now: target.core.delete_offsets(rid, req, now))
        assert isinstance(body, OffsetDeleteResponse)
        return body

    # -- administration -------------------------------------------------------------------

    async def list_groups(
        self, states: Collection[GroupState | ConsumerGroupState] = ()
    ) -> ListGroupsResponse:
        """The groups of every partition coordinated here; COORDINATOR_LOAD_IN_PROGRESS
        while one of them still loads (as Kafka)."""
        listings: list[GroupListing] = []
        for driver in self.drivers.values():
            answer = driver.core.list_groups(states)
            if answer.error is not ErrorCode.NONE:
                return ListGroupsResponse(answer.error)
            listings.extend(answer.groups)
        listings.sort(key=lambda g: g.group_id)
        return ListGroupsResponse(ErrorCode.NONE, tuple(listings))

    async def describe_groups(
        self, group_ids: Sequence[str], *, include_offsets: bool = False
    ) -> list[tuple[DescribedGroup, GroupOffsets | None]]:
        """Each group (Dead when unknown) and, with ``include_offsets``, its committed
        offsets with the member owning each partition."""
        out: list[tuple[DescribedGroup, GroupOffsets | None]] = []
        for group_id in group_ids:
            target = self._route(group_id)
            if isinstance(target, LogdError):
                dead = DescribedGroup(group_id, target.code, GroupState.DEAD)
                out.append((dead, None))
                continue
            (described,) = target.core.describe_groups([group_id]).groups
            offsets = None
            if include_offsets and described.error is ErrorCode.NONE:
                offsets = target.core.group_offsets(group_id, _owned)
            out.append((described, offsets))
        return out

    async def delete_groups(self, group_ids: Sequence[str]) -> DeleteGroupsResponse:
        """Delete empty groups, each through its own coordinator."""
        results: dict[str, ErrorCode] = {}
        by_driver: dict[int, list[str]] = {}
        for group_id in dict.fromkeys(group_ids):
            target = self._route(group_id)
            if isinstance(target, LogdError):
                results[group_id] = target.code
            else:
                by_driver.setdefault(target.partition_id, []).append(group_id)
        for partition, ids in by_driver.items():
            driver = self.drivers.get(partition)
            if driver is None:  # unloaded by a leadership change meanwhile
                results.update(dict.fromkeys(ids, ErrorCode.NOT_COORDINATOR))
                continue
            body = await driver.call(_deleter(driver.core, ids))
            assert isinstance(body, DeleteGroupsResponse)
            results.update({r.group_id: r.error for r in body.results})
        ordered = [DeleteGroupResult(g, results[g]) for g in dict.fromkeys(group_ids)]
        return DeleteGroupsResponse(tuple(ordered))


def _deleter(core: GroupCoordinator, ids: list[str]) -> Callable[[int, int], None]:
    def submit(request_id: int, now_ms: int) -> None:
        core.delete_groups(request_id, ids, now_ms)

    return submit
