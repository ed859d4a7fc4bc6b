"""The group coordinator of one ``__consumer_offsets`` partition, as a sans-I/O core.

Inputs: requests (each with a driver-chosen ``request_id``), ``tick(now_ms)``, and the
outcome of writes (``on_persisted`` / ``on_persist_failed``). Outputs: :meth:`ready` hands
over the answers to send and the records to append. Nothing here reads a clock, sleeps,
touches a socket or a file; time arrives as ``now_ms`` (wall-clock milliseconds — they go
into the records — and never taken backwards: an earlier value than seen is ignored).

Driver loop (``logd.groups`` has none; the broker writes it)::

    core = GroupCoordinator(config, member_id_suffix=lambda: uuid.uuid4().hex)
    for key, value in records_of_the_partition:  # from log start to its end
        core.replay(key, value)
    core.finish_loading(now_ms)
    ...
    core.join_group(request_id, request, now_ms)   # any request, or tick(), or on_persisted()
    ready = core.ready()
    for write in ready.writes:                      # append in this order, then report
        append(write.records) -> core.on_persisted(write.write_id, now_ms)
    for response in ready.responses:                # answer the waiting callers
        futures.pop(response.request_id).set_result(response.body)
    sleep until core.next_deadline_ms(), then core.tick(now_ms)

JoinGroup and SyncGroup answers are often deferred (until the join phase ends, or the
leader's assignment is durable); OffsetCommit, DeleteGroups and a static member's rejoin
are answered once their records are durable. Every accepted request is answered exactly
once — by the core, or at the latest by :meth:`unload` with NOT_COORDINATOR.

Not thread-safe: owned by one driver task, which calls it from one thread at a time.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from logd.errors import ErrorCode, LogdError
from logd.groups import classic_members, consumer_ops, join, membership, offsets, rebalance
from logd.groups.config import CoordinatorConfig
from logd.groups.consumer_group import (
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.consumer_ops import DescribedConsumerGroup
from logd.groups.core import Core
from logd.groups.group import Group
from logd.groups.loader import Loader
from logd.groups.log_format import MAX_STRING_BYTES
from logd.groups.messages import (
    DescribedGroup,
    DescribedMember,
    DescribeGroupsResponse,
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
    PartitionOffset,
    SyncGroupRequest,
    SyncGroupResponse,
    TopicPartition,
)
from logd.groups.outbox import Ready
from logd.groups.partition import offsets_partition_for
from logd.groups.state import GroupEvent, GroupState
from logd.groups.timers import TimerKey, TimerKind, Timers

__all__ = ["CoordinatorStatus", "GroupCoordinator", "OwnedPartitions"]

_S = GroupState

OwnedPartitions = Callable[[bytes], Iterable[tuple[str, int]]]
"""Decodes a member's assignment bytes into (topic, partition) pairs, raising a
``LogdError`` or ``ValueError`` on bytes it cannot read. For consumer groups that is Kafka's
ConsumerProtocol assignment: ``lambda b: partitioning.decode_assignment(b).partitions``."""


class CoordinatorStatus(enum.Enum):
    LOADING = "loading"  # replaying the partition; requests are answered "not yet"
    ACTIVE = "active"
    UNLOADED = "unloaded"  # no longer the partition's leader; everything is refused


class GroupCoordinator:
    """Consumer groups of one ``__consumer_offsets`` partition. See the module docstring.

    ``member_id_suffix`` makes the unique part of new member ids (the driver passes
    ``lambda: uuid.uuid4().hex``; tests pass a counter), so the core needs no randomness.

    Not thread-safe; owned by one driver task.
    """

    def __init__(
        self,
        config: CoordinatorConfig,
        member_id_suffix: Callable[[], str],
        now_ms: int = 0,
    ) -> None:
        self.config = config
        self._core = Core(config, member_id_suffix, now_ms)
        self._status = CoordinatorStatus.LOADING
        self._loader: Loader | None = Loader()

    # ------------------------------------------------------------------ loading

    @property
    def status(self) -> CoordinatorStatus:
        return self._status

    def replay(self, key: bytes | memoryview, value: bytes | memoryview | None) -> None:
        """Apply one record of the partition, in log order, while loading. Raises a
        ``LogdError`` for a malformed record (nothing changes; skipping it is allowed)."""
        assert self._loader is not None, "replay() after finish_loading()"
        self._loader.replay(key, value)

    def finish_loading(self, now_ms: int, topic_ids: Mapping[str, uuid.UUID] | None = None) -> None:
        """Every record is replayed: take the groups over and start answering. Members of
        loaded groups get a full session timeout to find the new coordinator.
        ``topic_ids``: the topics the broker knows (consumer-group records name topics by
        id)."""
        assert self._loader is not None, "finish_loading() twice"
        core = self._core
        core.now_ms = max(core.now_ms, now_ms)
        core.topic_ids.update(topic_ids or {})
        names = {tid: name for name, tid in core.topic_ids.items()}
        core.groups = self._loader.groups(core.now_ms, self.config.consumer, names)
        self._loader = None
        for group in core.groups.values():
            for member in group.members.values():
                core.arm_heartbeat(group, member)
            consumer_ops.rearm(core, group)
        self._arm_retention()
        self._status = CoordinatorStatus.ACTIVE

    def unload(self, now_ms: int) -> None:
        """This broker no longer leads the partition: answer everything that waits with
        NOT_COORDINATOR, forget every group and refuse all further requests."""
        core = self._core
        core.now_ms = max(core.now_ms, now_ms)
        for group in core.groups.values():
            for member in group.members.values():
                core.fail_parked(member, ErrorCode.NOT_COORDINATOR, member.member_id)
            if not group.is_(_S.DEAD):
                group.transition(GroupEvent.UNLOADED, core.now_ms)
        core.groups = {}
        core.timers = Timers()
        core.outbox.drop_unsent_writes()
        for write_id in core.outbox.writes_waiting():
            core.outbox.complete(write_id, ErrorCode.NOT_COORDINATOR)
        self._loader = None
        self._status = CoordinatorStatus.UNLOADED
        assert not core.outbox.in_flight(), core.outbox.in_flight()

    # ------------------------------------------------------------------ requests

    def join_group(
        self,
        request_id: int,
        req: JoinGroupRequest,
        now_ms: int,
        partitions_per_topic: Mapping[str, int] | None = None,
        topics_version: int | None = None,
    ) -> None:
        """A classic JoinGroup. ``partitions_per_topic`` (every topic's partition count) and
        ``topics_version`` are read when the group is a consumer group with members, which
        the member joins as a classic member (``classic_members.py``)."""
        core = self._begin(request_id, now_ms)
        error, message = self._refusal(req.group_id)
        if error is ErrorCode.NONE:
            error, message = join.validate_join(core, req)
        live = self._live_consumer_group(req.group_id) if error is ErrorCode.NONE else None
        if live is not None:
            counts = partitions_per_topic or {}
            classic_members.join(core, request_id, req, live, counts, topics_version)
            self._end()
            return
        if error is ErrorCode.NONE:
            error, message = self._classic_only(req.group_id)
        if error is not ErrorCode.NONE:
            core.outbox.respond(
                request_id, JoinGroupResponse(error, req.member_id, error_message=message)
            )
        else:
            join.join_group(core, request_id, req)
        self._end()

    def consumer_group_heartbeat(
        self,
        request_id: int,
        req: ConsumerHeartbeat,
        partitions_per_topic: Mapping[str, int],
        now_ms: int,
        topic_ids: Mapping[str, uuid.UUID] | None = None,
        topics_version: int | None = None,
    ) -> None:
        """A consumer-protocol heartbeat (KIP-848). ``partitions_per_topic``: the partition
        count of every topic (at least of those the group's members subscribe to);
        ``topic_ids``: their ids, for the group's records; ``topics_version``: moves
        whenever a topic comes or goes or changes its partition count (None: unknown).
        Both maps are only read when the version moved (or is unknown)."""
        core = self._begin(request_id, now_ms)
        if topics_version is None or topics_version != core.topics_version:
            core.topic_ids.update(topic_ids or {})
            core.topics_version = topics_version
        error, message = self._refusal(req.group_id)
        if error is not ErrorCode.NONE:
            answer = ConsumerHeartbeatAnswer(error, req.member_id, message=message)
            core.outbox.respond(request_id, answer)
        else:
            consumer_ops.consumer_group_heartbeat(
                core, request_id, req, partitions_per_topic, self.config.consumer, topics_version
            )
        self._end()

    def describe_consumer_groups(self, group_ids: Sequence[str]) -> list[DescribedConsumerGroup]:
        """ConsumerGroupDescribe: each group, GROUP_ID_NOT_FOUND for a classic or unknown one."""
        out = []
        for group_id in group_ids:
            error, message = self._refusal(group_id)
            if error is ErrorCode.NONE:
                out.append(consumer_ops.describe_consumer_group(self._core, group_id))
            else:
                out.append(DescribedConsumerGroup(group_id, error, message=message))
        return out

    def sync_group(self, request_id: int, req: SyncGroupRequest, now_ms: int) -> None:
        core = self._begin(request_id, now_ms)
        error, message = self._refusal(req.group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            # Kafka: the rebalance's state is lost with the old coordinator; rejoin.
            error = ErrorCode.REBALANCE_IN_PROGRESS
        live = self._live_consumer_group(req.group_id) if error is ErrorCode.NONE else None
        if error is not ErrorCode.NONE:
            core.outbox.respond(request_id, SyncGroupResponse(error, error_message=message))
        elif live is not None:
            classic_members.sync(core, request_id, req, live)
        else:
            membership.sync_group(core, request_id, req)
        self._end()

    def heartbeat(self, request_id: int, req: HeartbeatRequest, now_ms: int) -> None:
        core = self._begin(request_id, now_ms)
        error, message = self._refusal(req.group_id)
        if error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
            error, message = ErrorCode.NONE, ""  # Kafka answers blindly while loading
            core.outbox.respond(request_id, HeartbeatResponse(error))
        elif error is not ErrorCode.NONE:
            core.outbox.respond(request_id, HeartbeatResponse(error, message))
        elif (live := self._live_consumer_group(req.group_id)) is not None:
            classic_members.heartbeat(core, request_id, req, live)
        else:
            membership.heartbeat(core, request_id, req)
        self._end()

    def leave_group(self, request_id: int, req: LeaveGroupRequest, now_ms: int) -> None:
        core = self._begin(request_id, now_ms)
        error, message = self._refusal(req.group_id)
        if error is not ErrorCode.NONE:
            core.outbox.respond(request_id, LeaveGroupResponse(error, error_message=message))
        elif (live := self._live_consumer_group(req.group_id)) is not None:
            classic_members.leave(core, request_id, req, live)
        else:
            membership.leave_group(core, request_id, req)
        self._end()

    def commit_offsets(self, request_id: int, req: OffsetCommitRequest, now_ms: int) -> None:
        core = self._begin(request_id, now_ms)
        error, message = self._refusal(req.group_id)
        if error is not ErrorCode.NONE:
            results = tuple(
                OffsetCommitPartitionResult(p.topic, p.partition, error) for p in req.partitions
            )
            core.outbox.respond(request_id, OffsetCommitResponse(results, message))
        else:
            offsets.commit_offsets(core, request_id, req)
        self._end()

    def delete_groups(self, request_id: int, group_ids: Sequence[str], now_ms: int) -> None:
        """Delete empty groups with their offsets; answered once the tombstones are durable."""
        core = self._begin(request_id, now_ms)
        refused = {g: e for g in group_ids if (e := self._refusal(g)[0]) is not ErrorCode.NONE}
        offsets.delete_groups(core, request_id, list(group_ids), refused)
        self._end()

    def delete_offsets(self, request_id: int, req: OffsetDeleteRequest, now_ms: int) -> None:
        """Delete some committed offsets of a group (KIP-496); answered once durable."""
        core = self._begin(request_id, now_ms)
        error, _ = self._refusal(req.group_id)
        if error is not ErrorCode.NONE:
            core.outbox.respond(request_id, OffsetDeleteResponse(error))
        else:
            offsets.delete_offsets(core, request_id, req)
        self._end()

    # ------------------------------------------------------------------ queries (no side effects)

    def fetch_offsets(
        self,
        group_id: str,
        partitions: Sequence[TopicPartition] | None = None,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> OffsetFetchResponse:
        """Durable committed offsets of ``partitions`` (None: all the group has). A
        consumer-protocol member's fetch (OffsetFetch v9: its id and epoch) is fenced as
        Kafka 4 fences it: STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID; classic groups and
        fetches without a member are not checked."""
        error, message = self._refusal(group_id)
        group = self._core.groups.get(group_id)
        if error is ErrorCode.NONE and group is not None and group.consumer is not None:
            error = group.consumer.validate_offset_fetch(member_id, member_epoch)
            message = f"member {member_id} at epoch {member_epoch}: {error.name}"
        if error is not ErrorCode.NONE:
            return OffsetFetchResponse(error, error_message=message)
        wanted = None if partitions is None else tuple(partitions)
        return offsets.fetch_offsets(self._core, group_id, wanted)

    def describe_groups(self, group_ids: Sequence[str]) -> DescribeGroupsResponse:
        return DescribeGroupsResponse(tuple(self._describe(g) for g in group_ids))

    def list_groups(
        self, states: Collection[GroupState | ConsumerGroupState] = ()
    ) -> ListGroupsResponse:
        """Every group of this partition (sorted by id), or those in ``states`` (matched by
        Kafka's name of the state, whichever the group's type)."""
        if self._status is not CoordinatorStatus.ACTIVE:
            return ListGroupsResponse(self._status_error())
        names = {s.value for s in states}
        groups = sorted(self._core.groups.values(), key=lambda g: g.group_id)
        listings = (_listing(g) for g in groups)
        return ListGroupsResponse(
            ErrorCode.NONE, tuple(g for g in listings if not names or g.state.value in names)
        )

    def group_offsets(self, group_id: str, owned: OwnedPartitions | None = None) -> GroupOffsets:
        """For ``group describe``: per partition the committed offset and the member it is
        assigned to (in a Stable group, decoded with ``owned``; an assignment it cannot
        decode just shows no owner). Sorted by topic and partition."""
        error, _ = self._refusal(group_id)
        group = self._core.groups.get(group_id)
        if error is not ErrorCode.NONE or group is None:
            return GroupOffsets(group_id, error, _S.DEAD)
        owners = _owners(group, owned) if owned is not None and group.is_(_S.STABLE) else {}
        rows = []
        for tp in sorted({*group.offsets, *owners}):
            value = group.offsets.get(tp)
            member = owners.get(tp)
            rows.append(
                PartitionOffset(
                    topic=tp.topic,
                    partition=tp.partition,
                    committed_offset=-1 if value is None else value.offset,
                    leader_epoch=-1 if value is None else value.leader_epoch,
                    metadata="" if value is None else value.metadata,
                    member_id="" if member is None else member[0],
                    group_instance_id=None if member is None else member[1],
                    client_id="" if member is None else member[2],
                    client_host="" if member is None else member[3],
                )
            )
        return GroupOffsets(group_id, ErrorCode.NONE, group.state, tuple(rows))

    def group_state(self, group_id: str) -> GroupState | None:
        group = self._core.groups.get(group_id)
        return None if group is None else group.state

    # ------------------------------------------------------------------ driving

    def tick(self, now_ms: int) -> None:
        """Let time pass: sessions, join and sync phases, retention. Call it at (or after)
        :meth:`next_deadline_ms`; calling it earlier or more often is harmless."""
        self._advance(now_ms)

    def next_deadline_ms(self) -> int | None:
        """When :meth:`tick` next has work; None when nothing is scheduled."""
        return self._core.timers.next_deadline_ms()

    def ready(self) -> Ready:
        """Answers to send now and writes to append (in order); empties the outbox."""
        return self._core.outbox.take()

    def on_persisted(self, write_id: int, now_ms: int) -> None:
        """The records of ``write_id`` are durable (committed in the partition). An id
        that is not waiting (already reported, or from before :meth:`unload`) is ignored."""
        self._advance(now_ms)
        self._core.outbox.complete(write_id, ErrorCode.NONE)
        self._end()

    def on_persist_failed(self, write_id: int, error: ErrorCode, now_ms: int) -> None:
        """The records of ``write_id`` reached the log but were not committed in time
        (``error`` as the storage layer reported it; the core maps it to what Kafka tells
        clients). They may still commit, so memory keeps them, as the log does."""
        assert error is not ErrorCode.NONE
        self._advance(now_ms)
        self._core.outbox.complete(write_id, error)
        self._end()

    def on_append_refused(self, write_id: int, error: ErrorCode, now_ms: int) -> None:
        """The log refused the records of ``write_id`` (the append failed: they are not in
        it). What the write changed in memory is taken back first (a consumer group's
        state, a deletion), then whoever waited is told ``error``."""
        assert error is not ErrorCode.NONE
        self._advance(now_ms)
        self._core.outbox.complete(write_id, error, refused=True)
        self._end()

    def pending_request_ids(self) -> tuple[int, ...]:
        """Requests accepted and not answered yet (parked, or waiting for a write)."""
        return self._core.outbox.in_flight()

    # ------------------------------------------------------------------ internals

    def _begin(self, request_id: int, now_ms: int) -> Core:
        self._advance(now_ms)
        self._core.outbox.accept(request_id)
        return self._core

    def _end(self) -> None:
        # Work due right now, e.g. a join phase with a zero initial delay.
        self._fire_due()

    def _advance(self, now_ms: int) -> None:
        core = self._core
        core.now_ms = max(core.now_ms, now_ms)
        self._fire_due()

    def _fire_due(self) -> None:
        if self._status is not CoordinatorStatus.ACTIVE:
            return
        core = self._core
        while (key := core.timers.pop_due(core.now_ms)) is not None:
            self._fire(key)

    def _fire(self, key: TimerKey) -> None:
        core = self._core
        if key.kind is TimerKind.RETENTION:
            offsets.expire_offsets(core)
            self._arm_retention()
            return
        group = core.groups.get(key.group_id)
        assert group is not None, f"timer {key} outlived its group"
        if key.kind is TimerKind.CONSUMER:
            consumer_ops.on_consumer_deadline(core, group)
        elif key.kind is TimerKind.HEARTBEAT:
            rebalance.on_heartbeat_expired(core, group, key.member_id)
        elif key.kind is TimerKind.PENDING_MEMBER:
            rebalance.on_pending_member_expired(core, group, key.member_id)
        elif key.kind is TimerKind.JOIN:
            rebalance.on_join_deadline(core, group)
        else:
            rebalance.on_sync_deadline(core, group)

    def _arm_retention(self) -> None:
        core = self._core
        interval = core.config.offsets_retention_check_interval_ms
        core.timers.arm(TimerKey(TimerKind.RETENTION), core.now_ms + interval)

    def _status_error(self) -> ErrorCode:
        if self._status is CoordinatorStatus.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        if self._status is CoordinatorStatus.UNLOADED:
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE

    def _refusal(self, group_id: str) -> tuple[ErrorCode, str]:
        """Why this coordinator cannot serve ``group_id`` now: (NONE, "") if it can."""
        if self._status is CoordinatorStatus.UNLOADED:
            return ErrorCode.NOT_COORDINATOR, "this broker no longer coordinates the group"
        if not group_id or len(group_id.encode()) > MAX_STRING_BYTES:
            return ErrorCode.INVALID_GROUP_ID, "a group id is 1 to 32767 bytes of UTF-8"
        cfg = self.config
        if offsets_partition_for(group_id, cfg.partitions) != cfg.partition:
            return ErrorCode.NOT_COORDINATOR, f"group {group_id} is not coordinated here"
        if self._status is CoordinatorStatus.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, "the coordinator is loading"
        return ErrorCode.NONE, ""

    def _live_consumer_group(self, group_id: str) -> Group | None:
        """The group if it is a consumer-protocol group with members: classic requests for
        it are served by ``classic_members.py``."""
        group = self._core.groups.get(group_id)
        if group is None or group.consumer is None or not group.consumer.members:
            return None
        return group

    def _classic_only(self, group_id: str) -> tuple[ErrorCode, str]:
        """An empty consumer-protocol group (offsets only) turns classic again when a
        classic member joins it."""
        group = self._core.groups.get(group_id)
        if group is not None and group.consumer is not None:
            consumer_ops.drop_consumer_group(self._core, group)
        return ErrorCode.NONE, ""

    def _describe(self, group_id: str) -> DescribedGroup:
        error, _ = self._refusal(group_id)
        group = self._core.groups.get(group_id)
        if error is ErrorCode.NONE and group is not None and group.consumer is not None:
            return DescribedGroup(group_id, ErrorCode.GROUP_ID_NOT_FOUND, _S.DEAD)
        if error is not ErrorCode.NONE or group is None:
            return DescribedGroup(group_id, error, _S.DEAD)
        stable = group.is_(_S.STABLE)
        members = tuple(
            DescribedMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                metadata=m.metadata_for(group.protocol_name) if stable else b"",
                assignment=m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return DescribedGroup(
            group_id=group_id,
            error=ErrorCode.NONE,
            state=group.state,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name if stable else "",
            generation_id=group.generation_id,
            leader_id=group.leader_id,
            members=members,
        )


def _listing(group: Group) -> GroupListing:
    if group.consumer is not None:
        return GroupListing(group.group_id, "consumer", group.consumer.state, "consumer")
    return GroupListing(group.group_id, group.protocol_type, group.state)


def _owners(
    group: Group, owned: OwnedPartitions
) -> dict[TopicPartition, tuple[str, str | None, str, str]]:
    owners: dict[TopicPartition, tuple[str, str | None, str, str]] = {}
    for m in group.members.values():
        try:
            pairs = [TopicPartition(t, p) for t, p in owned(m.assignment)]
        except (LogdError, ValueError):  # partitioning's decode errors are ValueErrors
            continue  # a leader's assignment we cannot read: shown without an owner
        for tp in pairs:
            owners[tp] = (m.member_id, m.group_instance_id, m.client_id, m.client_host)
    return owners
