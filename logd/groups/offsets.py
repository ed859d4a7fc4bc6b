"""Committed offsets: commit (fenced by generation and member), fetch, delete, retention —
Kafka's ``handleCommitOffsets``/``storeOffsets``, ``handleFetchOffsets``,
``handleDeleteGroups`` and the offsets-retention task (KIP-211).

A commit is answered only once its records are durable: the committed offsets must survive
the coordinator's death. Until then they count as pending and are not visible to fetches.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from logd.errors import ErrorCode
from logd.groups.core import Core, offset_store_error, validate_current_member
from logd.groups.group import Group
from logd.groups.log_format import (
    GroupMetadataKey,
    OffsetCommitKey,
    OffsetCommitValue,
    encode_group_metadata_key,
    encode_offset_commit_key,
    encode_offset_commit_value,
)
from logd.groups.messages import (
    NO_OFFSET,
    DeleteGroupResult,
    DeleteGroupsResponse,
    OffsetCommitPartition,
    OffsetCommitPartitionResult,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeletePartitionResult,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchPartition,
    OffsetFetchResponse,
    TopicPartition,
)
from logd.groups.outbox import OffsetsRecord
from logd.groups.removal import Removal, put_back
from logd.groups.state import GroupEvent, GroupState
from partitioning import PROTOCOL_TYPE, PartitioningError, decode_subscription

__all__ = [
    "commit_offsets",
    "delete_groups",
    "delete_offsets",
    "expire_offsets",
    "fetch_offsets",
    "offset_tombstone",
]

_S = GroupState
_E = GroupEvent
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def offset_tombstone(group_id: str, tp: TopicPartition) -> OffsetsRecord:
    return OffsetsRecord(encode_offset_commit_key(OffsetCommitKey(group_id, *tp)), None)


def _group_tombstone(group_id: str) -> OffsetsRecord:
    return OffsetsRecord(encode_group_metadata_key(GroupMetadataKey(group_id)), None)


# --------------------------------------------------------------------------- commit


def _validate_commit(group: Group, req: OffsetCommitRequest) -> ErrorCode:
    """Kafka's ``validateOffsetCommit``: members are fenced by member id and generation; a
    commit without them (generation -1) is only for a group nobody is a member of. In a
    consumer-protocol group the generation field carries the member epoch (KIP-848)."""
    if group.consumer is not None and (group.consumer.members or req.member_id):
        return group.consumer.validate_offset_commit(req.member_id, req.generation_id)
    if req.generation_id >= 0 or req.member_id or req.group_instance_id is not None:
        error = validate_current_member(group, req.member_id, req.group_instance_id)
        if error is not ErrorCode.NONE:
            return error
        if req.generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
    elif not group.is_empty():
        return ErrorCode.UNKNOWN_MEMBER_ID
    if group.is_(_S.COMPLETING_REBALANCE):
        # The member saw the new generation in its JoinGroup answer but has no assignment
        # yet: it must not commit for partitions it may be about to lose (Kafka).
        return ErrorCode.REBALANCE_IN_PROGRESS
    return ErrorCode.NONE


def commit_offsets(core: Core, request_id: int, req: OffsetCommitRequest) -> None:
    group = core.groups.get(req.group_id)
    if group is None:
        if req.generation_id >= 0:
            # A member of a group this coordinator does not know: an older generation
            # (or a coordinator that lost the group) — either way, fenced.
            _respond_all(core, request_id, req, ErrorCode.ILLEGAL_GENERATION)
            return
        group = Group(req.group_id, core.now_ms)  # a simple (standalone) group
        core.groups[req.group_id] = group
    error = _validate_commit(group, req)
    if error is not ErrorCode.NONE:
        _respond_all(core, request_id, req, error)
        core.maybe_drop(group)
        return
    member = group.members.get(req.member_id)
    if member is not None and group.consumer is None:
        core.arm_heartbeat(group, member)  # a commit shows the member is alive (Kafka)
    _store_offsets(core, request_id, group, req.partitions)


def _respond_all(core: Core, request_id: int, req: OffsetCommitRequest, error: ErrorCode) -> None:
    results = tuple(
        OffsetCommitPartitionResult(p.topic, p.partition, error) for p in req.partitions
    )
    core.outbox.respond(request_id, OffsetCommitResponse(results))


def _check_partition(core: Core, p: OffsetCommitPartition) -> ErrorCode:
    if not _TOPIC.fullmatch(p.topic) or p.topic in (".", ".."):
        return ErrorCode.INVALID_TOPIC_EXCEPTION
    if not 0 <= p.partition <= _INT32_MAX:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if not 0 <= p.offset <= _INT64_MAX or not -1 <= p.leader_epoch <= _INT32_MAX:
        return ErrorCode.INVALID_REQUEST
    limit = core.config.offset_metadata_max_bytes
    if len(p.metadata) > limit // 4 and len(p.metadata.encode()) > limit:
        return ErrorCode.OFFSET_METADATA_TOO_LARGE
    return ErrorCode.NONE


def _store_offsets(
    core: Core, request_id: int, group: Group, partitions: tuple[OffsetCommitPartition, ...]
) -> None:
    errors = [_check_partition(core, p) for p in partitions]
    accepted = [
        (
            TopicPartition(p.topic, p.partition),
            OffsetCommitValue(p.offset, p.leader_epoch, p.metadata, core.now_ms),
        )
        for p, e in zip(partitions, errors, strict=True)
        if e is ErrorCode.NONE
    ]

    def respond(stored: ErrorCode) -> None:
        results = tuple(
            OffsetCommitPartitionResult(p.topic, p.partition, stored if e is ErrorCode.NONE else e)
            for p, e in zip(partitions, errors, strict=True)
        )
        core.outbox.respond(request_id, OffsetCommitResponse(results))

    if not accepted:
        respond(ErrorCode.NONE)
        core.maybe_drop(group)
        return
    for tp, _ in accepted:
        group.pending_commits[tp] = group.pending_commits.get(tp, 0) + 1
    records = tuple(
        OffsetsRecord(
            encode_offset_commit_key(OffsetCommitKey(group.group_id, *tp)),
            encode_offset_commit_value(value),
        )
        for tp, value in accepted
    )

    def on_durable(error: ErrorCode) -> None:
        current = core.groups.get(group.group_id) is group
        for tp, value in accepted:
            count = group.pending_commits.get(tp)
            if count is None:
                continue  # deleted meanwhile: the delete's tombstones come after us
            if count > 1:
                group.pending_commits[tp] = count - 1
            else:
                del group.pending_commits[tp]
            if error is ErrorCode.NONE and current:
                group.offsets[tp] = value
        respond(offset_store_error(error))
        core.maybe_drop(group)

    core.outbox.write(records, on_durable)


# --------------------------------------------------------------------------- fetch


def fetch_offsets(
    core: Core, group_id: str, partitions: tuple[TopicPartition, ...] | None
) -> OffsetFetchResponse:
    """Durable committed offsets; ``partitions`` None means all of the group's."""
    group = core.groups.get(group_id)
    offsets = {} if group is None else group.offsets
    wanted = sorted(offsets) if partitions is None else [TopicPartition(*p) for p in partitions]
    found = []
    for tp in wanted:
        value = offsets.get(tp)
        if value is None:
            found.append(OffsetFetchPartition(tp.topic, tp.partition, NO_OFFSET))
        else:
            found.append(
                OffsetFetchPartition(
                    tp.topic, tp.partition, value.offset, value.leader_epoch, value.metadata
                )
            )
    return OffsetFetchResponse(ErrorCode.NONE, tuple(found))


# --------------------------------------------------------------------------- delete, expire


def _tombstones(group: Group) -> list[OffsetsRecord]:
    tps = dict.fromkeys((*group.offsets, *group.pending_commits))
    records = [offset_tombstone(group.group_id, tp) for tp in tps]
    records.append(_group_tombstone(group.group_id))
    if group.consumer is not None:  # its consumer-protocol records too
        records.extend(OffsetsRecord(key, None) for key in group.consumer.persisted)
        group.consumer.persisted = {}
    return records


def _bury(core: Core, group: Group, event: GroupEvent) -> list[OffsetsRecord]:
    """Remove an empty group for good; the records that say so."""
    records = _tombstones(group)
    group.transition(event, core.now_ms)
    core.cancel_group_timers(group)
    group.offsets.clear()
    group.pending_commits.clear()
    group.pending_members.clear()
    del core.groups[group.group_id]
    return records


def delete_groups(
    core: Core, request_id: int, group_ids: list[str], refused: Mapping[str, ErrorCode]
) -> None:
    """Delete empty groups (NON_EMPTY_GROUP otherwise); answered once the tombstones are
    durable. ``refused`` holds the groups the facade already refused, with why."""
    results: dict[str, ErrorCode] = {}
    deleted: list[str] = []
    records: list[OffsetsRecord] = []
    removals: list[Removal] = []
    for group_id in dict.fromkeys(group_ids):
        group = core.groups.get(group_id)
        if group_id in refused:
            results[group_id] = refused[group_id]
        elif group is None:
            results[group_id] = ErrorCode.GROUP_ID_NOT_FOUND
        elif not group.is_empty():
            results[group_id] = ErrorCode.NON_EMPTY_GROUP
        else:
            removals.append(Removal.of(group))
            records.extend(_bury(core, group, _E.DELETED))
            deleted.append(group_id)
            results[group_id] = ErrorCode.NONE  # until the tombstones are durable

    def respond(stored: ErrorCode) -> None:
        for group_id in deleted:
            results[group_id] = offset_store_error(stored)
        body = DeleteGroupsResponse(tuple(DeleteGroupResult(g, e) for g, e in results.items()))
        core.outbox.respond(request_id, body)

    if records:
        core.outbox.write(tuple(records), respond, lambda _: put_back(core, removals))
    else:
        respond(ErrorCode.NONE)


# --------------------------------------------------------------------------- delete offsets


def _subscribed(group: Group) -> Callable[[str], bool]:
    """Kafka's ``isSubscribedToTopic`` for a non-empty consumer group: the topics its
    members' subscriptions name; when one cannot be read, every topic counts as subscribed
    (nothing is deleted from under a member)."""
    topics: set[str] = set()
    for member in group.members.values():
        if group.protocol_name not in member.protocol_names():
            return _every_topic
        try:
            topics.update(decode_subscription(member.metadata_for(group.protocol_name)).topics)
        except PartitioningError:
            return _every_topic
    return topics.__contains__


def _every_topic(topic: str) -> bool:
    return True


def _no_topic(topic: str) -> bool:
    return False


def delete_offsets(core: Core, request_id: int, req: OffsetDeleteRequest) -> None:
    """Kafka's ``handleDeleteOffsets`` (KIP-496): an empty group loses the offsets asked
    for; a non-empty consumer group those of topics none of its members subscribes to
    (GROUP_SUBSCRIBED_TO_TOPIC for the others); any other group answers NON_EMPTY_GROUP.
    Answered once the tombstones are durable; a group left empty with no offsets is buried
    with them (Kafka's ``cleanupGroupMetadata``)."""
    group = core.groups.get(req.group_id)
    if group is None or group.is_(_S.DEAD):
        core.outbox.respond(request_id, OffsetDeleteResponse(ErrorCode.GROUP_ID_NOT_FOUND))
        return
    subscribed: Callable[[str], bool] = _no_topic
    if group.is_empty():
        pass
    elif group.consumer is not None:
        subscribed = group.consumer.subscribed_topics().__contains__
    elif group.protocol_type == PROTOCOL_TYPE:
        subscribed = _subscribed(group)
    else:
        core.outbox.respond(request_id, OffsetDeleteResponse(ErrorCode.NON_EMPTY_GROUP))
        return
    results: dict[TopicPartition, ErrorCode] = {}
    records: list[OffsetsRecord] = []
    deleted: list[TopicPartition] = []
    removals = [Removal.of(group)]
    for tp in dict.fromkeys(TopicPartition(*p) for p in req.partitions):
        if subscribed(tp.topic):
            results[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            continue
        results[tp] = ErrorCode.NONE
        if tp in group.offsets or tp in group.pending_commits:
            group.offsets.pop(tp, None)
            group.pending_commits.pop(tp, None)  # a commit in flight lands before us
            records.append(offset_tombstone(group.group_id, tp))
            deleted.append(tp)
    if records and group.is_empty() and not group.has_offsets() and not group.pending_members:
        records.extend(_bury(core, group, _E.DELETED))

    def respond(stored: ErrorCode) -> None:
        for tp in deleted:
            results[tp] = offset_store_error(stored)
        answered = tuple(OffsetDeletePartitionResult(*tp, e) for tp, e in results.items())
        core.outbox.respond(request_id, OffsetDeleteResponse(ErrorCode.NONE, answered))

    if records:
        core.outbox.write(tuple(records), respond, lambda _: put_back(core, removals))
    else:
        respond(ErrorCode.NONE)


def _expired(core: Core, group: Group) -> list[TopicPartition]:
    """KIP-211: an empty consumer group's offsets expire ``offsets.retention`` after it
    became empty; a simple group's (no protocol type) each that long after its commit."""
    retention = core.config.offsets_retention_ms
    if not group.is_empty() and group.consumer is not None:
        return []  # a live consumer-protocol group keeps its offsets
    if group.protocol_type and not group.is_empty():
        return []
    since_empty = group.current_state_timestamp_ms if group.protocol_type else -1
    expired = []
    for tp, value in group.offsets.items():
        if tp in group.pending_commits:
            continue
        if value.expire_timestamp_ms >= 0:  # an explicit expiry (v1 records)
            deadline = value.expire_timestamp_ms
        else:
            deadline = (since_empty if since_empty >= 0 else value.commit_timestamp_ms) + retention
        if deadline <= core.now_ms:
            expired.append(tp)
    return expired


def expire_offsets(core: Core) -> None:
    """The retention sweep: tombstone expired offsets, and empty groups left with none."""
    records: list[OffsetsRecord] = []
    removals: list[Removal] = []
    for group in list(core.groups.values()):
        expired = _expired(core, group)
        bury = group.is_empty() and not group.pending_members
        if expired or (bury and not group.has_offsets()):
            removals.append(Removal.of(group))
        for tp in expired:
            del group.offsets[tp]
            records.append(offset_tombstone(group.group_id, tp))
        if bury and not group.has_offsets():
            records.extend(_bury(core, group, _E.EXPIRED))
    if records:
        core.outbox.write(tuple(records), _ignore, lambda _: put_back(core, removals))


def _ignore(error: ErrorCode) -> None:
    # A tombstone not committed in time is in the log and may still commit; one the log
    # refused was put back (the next sweep writes it again).
    del error
