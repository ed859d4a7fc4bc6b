"""Rebuild groups by replaying ``__consumer_offsets`` records (Kafka's
``GroupMetadataManager.loadGroupsAndOffsets``).

A new leader of an offsets partition reads the partition from its start to its end and
feeds every record here in log order; the last value per key wins and a tombstone deletes
its key, so the result is what the compacted partition means. Then every group is built
at once: Stable with its last generation's members and assignments, or Empty; a group with
offsets and no metadata record is a simple (standalone) group. A consumer-protocol group
(KIP-848, key versions 3-8, ``consumer_records.py``) comes back with its members at their
epochs and assignments.

Not thread-safe; owned by the coordinator while it loads.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from logd.errors import CorruptRecordError
from logd.groups.consumer_group import ConsumerGroupConfig
from logd.groups.group import Group
from logd.groups.log_format import (
    GroupMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
)
from logd.groups.messages import TopicPartition

if TYPE_CHECKING:
    from logd.groups.consumer_records import ConsumerGroupImage

__all__ = ["Loader"]

_I16 = struct.Struct(">h")
#: Key versions 3-8: consumer-protocol groups (``consumer_records.py``, imported only when
#: one is met: it loads kio, which a broker without a Kafka listener does not otherwise need
#: -- tests/test_startup_imports.py).
_CONSUMER_KEY_VERSIONS = range(3, 9)


class Loader:
    """Latest value per key, in replay order."""

    __slots__ = ("_consumers", "_metadata", "_offsets", "records")

    def __init__(self) -> None:
        self._metadata: dict[str, GroupMetadataValue] = {}
        self._offsets: dict[str, dict[TopicPartition, OffsetCommitValue]] = {}
        self._consumers: dict[str, ConsumerGroupImage] = {}
        self.records = 0

    def replay(self, key: bytes | memoryview, value: bytes | memoryview | None) -> None:
        """Apply one record. A malformed one raises a ``LogdError`` before anything
        changes, so the driver may log it and go on with the next."""
        if len(key) >= 2 and _I16.unpack_from(key, 0)[0] in _CONSUMER_KEY_VERSIONS:
            from logd.groups.consumer_records import ConsumerGroupImage, decode_consumer_key

            consumer_key = decode_consumer_key(key)
            image = self._consumers.get(consumer_key.group_id) or ConsumerGroupImage()
            image.apply(consumer_key, bytes(key), value)
            self._consumers[consumer_key.group_id] = image
            self.records += 1
            return
        decoded = decode_key(key)
        if isinstance(decoded, OffsetCommitKey):
            tp = TopicPartition(decoded.topic, decoded.partition)
            offsets = self._offsets.setdefault(decoded.group_id, {})
            if value is None:
                offsets.pop(tp, None)
            else:
                offsets[tp] = decode_offset_commit_value(value)
        elif value is None:
            self._metadata.pop(decoded.group_id, None)
        else:
            group_value = decode_group_metadata_value(value)
            _check(decoded.group_id, group_value)
            self._metadata[decoded.group_id] = group_value
        self.records += 1

    def groups(
        self,
        now_ms: int,
        consumer_config: ConsumerGroupConfig,
        topic_names: Mapping[uuid.UUID, str],
    ) -> dict[str, Group]:
        """The groups the records describe (``topic_names``: the topics the broker knows,
        by id, for consumer-group records)."""
        groups: dict[str, Group] = {}
        for group_id in dict.fromkeys((*self._metadata, *self._offsets, *self._consumers)):
            value = self._metadata.get(group_id)
            offsets = self._offsets.get(group_id, {})
            image = self._consumers.get(group_id)
            consumer = None
            if image is not None:
                from logd.groups.consumer_records import restore

                consumer = restore(group_id, image, consumer_config, topic_names, now_ms)
            if value is None and not offsets and consumer is None:
                continue
            if value is None or consumer is not None:
                group = Group(group_id, now_ms)
            else:
                group = Group.loaded(group_id, value, now_ms)
            if consumer is not None:
                group.consumer = consumer
                group.protocol_type = "consumer"
            group.offsets.update(offsets)
            groups[group_id] = group
        return groups


def _check(group_id: str, value: GroupMetadataValue) -> None:
    """A metadata value well-formed on the wire but impossible as a group."""
    if value.members and not value.protocol_name:
        raise CorruptRecordError(f"group {group_id}: members but no protocol")
    ids = [m.member_id for m in value.members]
    if len(set(ids)) != len(ids):
        raise CorruptRecordError(f"group {group_id}: a member id appears twice")
    instances = [m.group_instance_id for m in value.members if m.group_instance_id is not None]
    if len(set(instances)) != len(instances):
        raise CorruptRecordError(f"group {group_id}: a group.instance.id appears twice")
