"""A consumer-protocol group (KIP-848) as Kafka's records in ``__consumer_offsets``.

Kafka keeps such a group in six record types, each a key version (= record type) and a
value (version 0, flexible), from the coordinator's JSON schemas (``records_gen.py``,
generated; encoded by kio):

* 3 ConsumerGroupMetadata (group): the group epoch;
* 4 ConsumerGroupPartitionMetadata (group): the subscribed topics' ids, names, partitions;
* 5 ConsumerGroupMemberMetadata (group, member): who the member is, what it subscribes to;
* 6 ConsumerGroupTargetAssignmentMetadata (group): the assignment epoch;
* 7 ConsumerGroupTargetAssignmentMember (group, member): its target partitions;
* 8 ConsumerGroupCurrentMemberAssignment (group, member): its member epoch, state,
  assigned partitions and those pending revocation.

:func:`group_records` gives the whole set of (key, value) a group's state amounts to; the
coordinator writes what differs from what it wrote last (:func:`changes`: new values, and
tombstones for keys no longer there -- a member gone), so the compacted partition always
holds exactly the group. :class:`ConsumerGroupImage` collects the replayed records (last
value per key) and rebuilds the group with :func:`restore`, members keeping their epochs
and assignments. Partitions are named by topic id, as Kafka's records do; the caller maps
names to ids (and back on load).

Pure: no I/O. Decoding raises :class:`~logd.errors.CorruptRecordError` for bytes it cannot
read. (kio's reader is used on the coordinator's own CRC-checked log only, never on
network input, which goes through the Kafka front end's bounds-checked reader.)
"""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kio.serial import entity_reader, entity_writer
from kio.serial.errors import SerialError
from kio.static.primitive import i8, i32

from logd.errors import CorruptRecordError
from logd.groups import records_gen as rec
from logd.groups import topic_regex
from logd.groups.consumer_group import ConsumerGroup, ConsumerGroupConfig
from logd.groups.reconcile import ConsumerMember, MemberState, Partitions
from partitioning import TopicPartition

__all__ = [
    "CONSUMER_KEY_VERSIONS",
    "ConsumerGroupImage",
    "ConsumerKey",
    "TopicIdOf",
    "changes",
    "decode_consumer_key",
    "group_records",
    "restore",
]

GROUP, PARTITIONS, MEMBER, TARGET_META, TARGET_MEMBER, CURRENT = 3, 4, 5, 6, 7, 8
CONSUMER_KEY_VERSIONS = range(GROUP, CURRENT + 1)
"""(``loader.py`` has its own copy so as not to import this module, and kio, before a
consumer group is met.)"""

_KEYS: dict[int, type[Any]] = {
    GROUP: rec.ConsumerGroupMetadataKey,
    PARTITIONS: rec.ConsumerGroupPartitionMetadataKey,
    MEMBER: rec.ConsumerGroupMemberMetadataKey,
    TARGET_META: rec.ConsumerGroupTargetAssignmentMetadataKey,
    TARGET_MEMBER: rec.ConsumerGroupTargetAssignmentMemberKey,
    CURRENT: rec.ConsumerGroupCurrentMemberAssignmentKey,
}
_VALUES: dict[int, type[Any]] = {
    GROUP: rec.ConsumerGroupMetadataValue,
    PARTITIONS: rec.ConsumerGroupPartitionMetadataValue,
    MEMBER: rec.ConsumerGroupMemberMetadataValue,
    TARGET_META: rec.ConsumerGroupTargetAssignmentMetadataValue,
    TARGET_MEMBER: rec.ConsumerGroupTargetAssignmentMemberValue,
    CURRENT: rec.ConsumerGroupCurrentMemberAssignmentValue,
}
_VALUE_VERSION = 0
_I16 = struct.Struct(">h")
# Kafka's MemberState values (modern/MemberState.java).
_STATE_BYTES = {
    MemberState.STABLE: 0,
    MemberState.UNREVOKED_PARTITIONS: 1,
    MemberState.UNRELEASED_PARTITIONS: 2,
}
_STATES = {v: k for k, v in _STATE_BYTES.items()}

TopicIdOf = Callable[[str], uuid.UUID]
"""A topic's id by its name (the broker's metadata)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerKey:
    """A consumer-group record's key: its type, group, and member (types 5, 7, 8)."""

    kind: int
    group_id: str
    member_id: str | None = None


# --------------------------------------------------------------------------- bytes


def _encode(version: int, entity: Any) -> bytes:
    buffer = io.BytesIO()
    buffer.write(_I16.pack(version))
    entity_writer(type(entity))(buffer, entity)
    return buffer.getvalue()


def _decode(cls: type[Any], data: bytes | memoryview, what: str) -> Any:
    view = memoryview(data)
    try:
        entity, size = entity_reader(cls)(view, 2)  # after the version; size read
    except (SerialError, ValueError, OverflowError) as exc:
        raise CorruptRecordError(f"{what}: {exc}") from None
    if 2 + size != len(view):
        raise CorruptRecordError(f"{what}: {len(view) - 2 - size} trailing bytes")
    return entity


def encode_key(key: ConsumerKey) -> bytes:
    cls = _KEYS[key.kind]
    if key.member_id is None:
        return _encode(key.kind, cls(group_id=key.group_id))
    return _encode(key.kind, cls(group_id=key.group_id, member_id=key.member_id))


def decode_consumer_key(data: bytes | memoryview) -> ConsumerKey:
    """A key of version 3 to 8 (the caller has read the version)."""
    kind: int = _I16.unpack_from(data, 0)[0]
    cls = _KEYS.get(kind)
    if cls is None:
        raise CorruptRecordError(f"key version {kind} is not a consumer-group record")
    key = _decode(cls, data, f"consumer group key {kind}")
    return ConsumerKey(kind, key.group_id, getattr(key, "member_id", None))


def _decode_value(kind: int, data: bytes | memoryview) -> Any:
    version: int = _I16.unpack_from(data, 0)[0] if len(data) >= 2 else -1
    if version != _VALUE_VERSION:
        raise CorruptRecordError(f"consumer group value {kind}: version {version} unknown")
    return _decode(_VALUES[kind], data, f"consumer group value {kind}")


# --------------------------------------------------------------------------- state -> records


def _by_topic_id(partitions: Iterable[TopicPartition], topic_id: TopicIdOf) -> list[Any]:
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return [(topic_id(t), tuple(i32(p) for p in sorted(ps))) for t, ps in sorted(grouped.items())]


def _current(
    member: ConsumerMember, topic_id: TopicIdOf
) -> rec.ConsumerGroupCurrentMemberAssignmentValue:
    def topics(
        tps: Partitions,
    ) -> tuple[rec.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions, ...]:
        return tuple(
            rec.ConsumerGroupCurrentMemberAssignmentValueTopicPartitions(topic_id=t, partitions=ps)
            for t, ps in _by_topic_id(tps, topic_id)
        )

    return rec.ConsumerGroupCurrentMemberAssignmentValue(
        member_epoch=i32(member.member_epoch),
        previous_member_epoch=i32(member.previous_member_epoch),
        state=i8(_STATE_BYTES[member.state]),
        assigned_partitions=topics(member.assigned),
        partitions_pending_revocation=topics(member.revoking),
    )


def _member(member: ConsumerMember) -> rec.ConsumerGroupMemberMetadataValue:
    return rec.ConsumerGroupMemberMetadataValue(
        instance_id=member.instance_id,
        rack_id=member.rack_id,
        client_id=member.client_id,
        client_host=member.client_host,
        subscribed_topic_names=member.subscribed_topics,
        subscribed_topic_regex=member.subscribed_regex,
        rebalance_timeout_ms=i32(member.rebalance_timeout_ms),
        server_assignor=member.server_assignor,
    )


def group_records(group: ConsumerGroup, topic_id: TopicIdOf) -> dict[bytes, bytes]:
    """Every record (key -> value) the group's present state amounts to. A group with no
    member and nothing else to remember is no records at all."""
    gid = group.group_id
    out: dict[bytes, bytes] = {}
    if not group.members and group.group_epoch == 0:
        return out
    for member in group.members.values():
        target = group.target.get(member.member_id, frozenset())
        named = {tp.topic for tp in (*member.assigned, *member.revoking, *target)}
        ids = tuple((t, topic_id(t)) for t in sorted(named))
        out.update(_member_records(gid, member, target, ids))
    topics = tuple(
        rec.ConsumerGroupPartitionMetadataValueTopicMetadata(
            topic_id=topic_id(name),
            topic_name=name,
            num_partitions=i32(count),
            partition_metadata=(),
        )
        for name, count in sorted(group.partitions_per_topic.items())
    )
    out[encode_key(ConsumerKey(PARTITIONS, gid))] = _encode(
        _VALUE_VERSION, rec.ConsumerGroupPartitionMetadataValue(topics=topics)
    )
    out[encode_key(ConsumerKey(TARGET_META, gid))] = _encode(
        _VALUE_VERSION,
        rec.ConsumerGroupTargetAssignmentMetadataValue(
            assignment_epoch=i32(group.assignment_epoch)
        ),
    )
    out[encode_key(ConsumerKey(GROUP, gid))] = _encode(
        _VALUE_VERSION, rec.ConsumerGroupMetadataValue(epoch=i32(group.group_epoch))
    )
    return out


@functools.lru_cache(maxsize=8192)
def _member_records(
    group_id: str,
    member: ConsumerMember,
    target: Partitions,
    ids: tuple[tuple[str, uuid.UUID], ...],
) -> tuple[tuple[bytes, bytes], ...]:
    """A member's three records (5, 7, 8). Cached: a steady member's heartbeat is the same
    immutable member again, so a group's records cost one dict lookup per member, not three
    encodings (~1 ms per member otherwise)."""
    topic_id = dict(ids).__getitem__
    mid = member.member_id
    value = rec.ConsumerGroupTargetAssignmentMemberValue(
        topic_partitions=tuple(
            rec.ConsumerGroupTargetAssignmentMemberValueTopicPartition(topic_id=t, partitions=ps)
            for t, ps in _by_topic_id(target, topic_id)
        )
    )
    return (
        (encode_key(ConsumerKey(MEMBER, group_id, mid)), _encode(_VALUE_VERSION, _member(member))),
        (encode_key(ConsumerKey(TARGET_MEMBER, group_id, mid)), _encode(_VALUE_VERSION, value)),
        (
            encode_key(ConsumerKey(CURRENT, group_id, mid)),
            _encode(_VALUE_VERSION, _current(member, topic_id)),
        ),
    )


def changes(
    before: Mapping[bytes, bytes], after: Mapping[bytes, bytes]
) -> list[tuple[bytes, bytes | None]]:
    """The records that turn ``before`` into ``after``: changed values, then tombstones."""
    out: list[tuple[bytes, bytes | None]] = [(k, v) for k, v in after.items() if before.get(k) != v]
    out.extend((k, None) for k in before if k not in after)
    return out


# --------------------------------------------------------------------------- records -> state


class ConsumerGroupImage:
    """The last value per key of one group's consumer records, while a partition replays."""

    __slots__ = (
        "assignment_epoch",
        "currents",
        "group_epoch",
        "members",
        "raw",
        "targets",
        "topics",
    )

    def __init__(self) -> None:
        self.group_epoch: int | None = None
        self.assignment_epoch = 0
        self.topics: dict[uuid.UUID, tuple[str, int]] = {}
        self.members: dict[str, rec.ConsumerGroupMemberMetadataValue] = {}
        self.targets: dict[str, rec.ConsumerGroupTargetAssignmentMemberValue] = {}
        self.currents: dict[str, rec.ConsumerGroupCurrentMemberAssignmentValue] = {}
        #: The records as replayed (what the log holds for the group).
        self.raw: dict[bytes, bytes] = {}

    def apply(self, key: ConsumerKey, key_bytes: bytes, value: bytes | memoryview | None) -> None:
        """One record; a malformed value raises before anything changes."""
        decoded = None if value is None else _decode_value(key.kind, value)
        if decoded is not None and key.kind == CURRENT and decoded.state not in _STATES:
            raise CorruptRecordError(f"member state {decoded.state} unknown")
        if value is None:
            self.raw.pop(key_bytes, None)
        else:
            self.raw[key_bytes] = bytes(value)
        member = key.member_id or ""
        if key.kind == GROUP:
            self.group_epoch = None if decoded is None else int(decoded.epoch)
        elif key.kind == TARGET_META:
            self.assignment_epoch = 0 if decoded is None else int(decoded.assignment_epoch)
        elif key.kind == PARTITIONS:
            topics = () if decoded is None else decoded.topics
            self.topics = {t.topic_id: (t.topic_name, int(t.num_partitions)) for t in topics}
        else:
            tables: dict[int, dict[str, Any]] = {
                MEMBER: self.members,
                TARGET_MEMBER: self.targets,
                CURRENT: self.currents,
            }
            table = tables[key.kind]
            if decoded is None:
                table.pop(member, None)
            else:
                table[member] = decoded


def restore(
    group_id: str,
    image: ConsumerGroupImage,
    config: ConsumerGroupConfig,
    topic_names: Mapping[uuid.UUID, str],
    now_ms: int,
) -> ConsumerGroup | None:
    """The group the records describe (None if its group record is gone). Every member
    keeps its epoch, state and partitions, and gets a fresh session timeout (and, while
    revoking, a fresh rebalance timeout): it has to find the new coordinator first."""
    if image.group_epoch is None:
        return None
    names = {**topic_names, **{tid: name for tid, (name, _) in image.topics.items()}}

    def partitions(topics: Iterable[Any]) -> Partitions:
        return frozenset(
            TopicPartition(names[t.topic_id], int(p))
            for t in topics
            if t.topic_id in names
            for p in t.partitions
        )

    group = ConsumerGroup(group_id, config)
    group.group_epoch = image.group_epoch
    group.assignment_epoch = image.assignment_epoch
    group.partitions_per_topic = dict(image.topics.values())
    subscribed = [name for name, _ in image.topics.values()]
    for member_id, meta in image.members.items():
        current = image.currents.get(member_id)
        target = image.targets.get(member_id)
        member = ConsumerMember(
            member_id=member_id,
            instance_id=meta.instance_id,
            rack_id=meta.rack_id,
            client_id=meta.client_id,
            client_host=meta.client_host,
            subscribed_topics=tuple(meta.subscribed_topic_names),
            subscribed_regex=meta.subscribed_topic_regex or None,
            # What it matched: among the group's subscribed topics, as recorded.
            regex_topics=(
                topic_regex.matching(meta.subscribed_topic_regex, subscribed)
                if meta.subscribed_topic_regex
                and not topic_regex.refusal(meta.subscribed_topic_regex)
                else ()
            ),
            server_assignor=meta.server_assignor,
            rebalance_timeout_ms=int(meta.rebalance_timeout_ms),
        )
        if current is not None:
            member = dataclasses.replace(
                member,
                member_epoch=int(current.member_epoch),
                previous_member_epoch=int(current.previous_member_epoch),
                state=_STATES[int(current.state)],
                assigned=partitions(current.assigned_partitions),
                revoking=partitions(current.partitions_pending_revocation),
            )
        group.target[member_id] = (
            frozenset() if target is None else partitions(target.topic_partitions)
        )
        group.restore_member(member, now_ms)
    group.persisted = dict(image.raw)
    return group
