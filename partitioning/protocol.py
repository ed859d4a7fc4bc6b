"""The byte formats of Kafka's classic ``ConsumerProtocol``: subscriptions and assignments.

Members put an encoded :class:`~partitioning.model.Subscription` in JoinGroup's per-protocol
metadata and the leader returns encoded :class:`~partitioning.model.Assignment` s in
SyncGroup; the coordinator stores both as opaque bytes.  Using Kafka's formats byte for byte
(``ConsumerProtocolSubscription.json`` / ``ConsumerProtocolAssignment.json``, versions 0-3,
non-flexible) means a Kafka client's bytes are what logd stores and what a logd leader
decodes, once a Kafka-protocol listener exists (DESIGN.md principle 7).

Layout, big-endian (``string`` = int16 length + UTF-8, -1 = null where nullable; ``bytes``
= int32 length + data, -1 = null; ``[]x`` = int32 count + elements, never null)::

    Subscription: version int16, topics []string, user_data bytes,
                  v1+ owned_partitions [](topic string, partitions []int32),
                  v2+ generation_id int32 (-1 = none), v3+ rack_id nullable string
    Assignment:   version int16, assigned_partitions [](topic string, partitions []int32),
                  user_data bytes

Compatibility, as Kafka's ``ConsumerProtocol``: a version above 3 is read as version 3 and
what follows is ignored (later versions may only append fields); bytes after the last field
are ignored in every version.  A negative version, any length or count that runs past the
end, a null where the format has no null, or invalid UTF-8 raise
:class:`~partitioning.errors.ProtocolDecodeError`; nothing is allocated before its length
was checked against what remains.  Pure functions; thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from partitioning.errors import ProtocolDecodeError, ProtocolEncodeError
from partitioning.model import Assignment, Subscription, TopicPartition

__all__ = [
    "ASSIGNMENT_VERSION_MAX",
    "PROTOCOL_TYPE",
    "SUBSCRIPTION_VERSION_MAX",
    "decode_assignment",
    "decode_subscription",
    "encode_assignment",
    "encode_subscription",
]

PROTOCOL_TYPE = "consumer"
"""The JoinGroup protocol type of consumer groups."""
SUBSCRIPTION_VERSION_MAX = 3
ASSIGNMENT_VERSION_MAX = 3

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT16_MAX = 0x7FFF
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
# The smallest encoding of one (topic, partitions) element: empty topic, empty array.
_TOPIC_PARTITIONS_MIN_SIZE = _INT16.size + _INT32.size


class _Reader:
    """A cursor over one encoded message; every read checks what remains first."""

    __slots__ = ("_data", "_position", "_what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self._data = bytes(data)
        self._position = 0
        self._what = what

    def _take(self, size: int, field: str) -> int:
        position = self._position
        if size > len(self._data) - position:
            raise ProtocolDecodeError(
                f"{self._what}: {field} needs {size} bytes at offset {position}, "
                f"only {len(self._data) - position} left"
            )
        self._position = position + size
        return position

    def int16(self, field: str) -> int:
        return int(_INT16.unpack_from(self._data, self._take(_INT16.size, field))[0])

    def int32(self, field: str) -> int:
        return int(_INT32.unpack_from(self._data, self._take(_INT32.size, field))[0])

    def nullable_string(self, field: str) -> str | None:
        length = self.int16(field)
        if length < -1:
            raise ProtocolDecodeError(f"{self._what}: {field} has length {length}")
        if length == -1:
            return None
        start = self._take(length, field)
        try:
            return self._data[start : start + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolDecodeError(f"{self._what}: {field} is not UTF-8: {exc}") from None

    def string(self, field: str) -> str:
        value = self.nullable_string(field)
        if value is None:
            raise ProtocolDecodeError(f"{self._what}: {field} is null")
        return value

    def nullable_bytes(self, field: str) -> bytes | None:
        length = self.int32(field)
        if length < -1:
            raise ProtocolDecodeError(f"{self._what}: {field} has length {length}")
        if length == -1:
            return None
        start = self._take(length, field)
        return self._data[start : start + length]

    def count(self, field: str, element_size_min: int) -> int:
        """An array's element count, checked against the bytes left before any allocation."""
        count = self.int32(field)
        if count < 0:
            raise ProtocolDecodeError(f"{self._what}: {field} has count {count}")
        left = len(self._data) - self._position
        if count * element_size_min > left:
            raise ProtocolDecodeError(
                f"{self._what}: {field} claims {count} elements but only {left} bytes are left"
            )
        return count

    def int32_array(self, field: str) -> tuple[int, ...]:
        count = self.count(field, _INT32.size)
        start = self._take(count * _INT32.size, field)
        return struct.unpack_from(f">{count}i", self._data, start)

    def topic_partitions(self, field: str) -> tuple[TopicPartition, ...]:
        partitions: list[TopicPartition] = []
        for _ in range(self.count(field, _TOPIC_PARTITIONS_MIN_SIZE)):
            topic = self.string(f"{field} topic")
            partitions.extend(
                TopicPartition(topic, p) for p in self.int32_array(f"{field} partitions")
            )
        return tuple(partitions)

    def version(self) -> int:
        version = self.int16("version")
        if version < 0:
            raise ProtocolDecodeError(f"{self._what}: unsupported version {version}")
        return version


def decode_subscription(data: bytes | bytearray | memoryview) -> Subscription:
    """A member's subscription from its ConsumerProtocolSubscription bytes (v0-v3).

    Absent fields take Kafka's defaults: no owned partitions, no generation, no rack; an
    empty rack id reads as none, as in Kafka.  ``group_instance_id`` is never in the bytes.
    """
    reader = _Reader(data, "consumer subscription")
    version = reader.version()
    topics = tuple(reader.string("topic") for _ in range(reader.count("topics", _INT16.size)))
    user_data = reader.nullable_bytes("user_data")
    owned: tuple[TopicPartition, ...] = ()
    generation_id: int | None = None
    rack_id: str | None = None
    if version >= 1:
        owned = reader.topic_partitions("owned_partitions")
    if version >= 2:
        generation = reader.int32("generation_id")
        generation_id = None if generation == -1 else generation
    if version >= 3:
        rack_id = reader.nullable_string("rack_id") or None
    return Subscription(
        topics=topics,
        user_data=user_data,
        owned_partitions=owned,
        generation_id=generation_id,
        rack_id=rack_id,
    )


def decode_assignment(data: bytes | bytearray | memoryview) -> Assignment:
    """A member's assignment from its ConsumerProtocolAssignment bytes (v0-v3)."""
    reader = _Reader(data, "consumer assignment")
    reader.version()
    partitions = reader.topic_partitions("assigned_partitions")
    user_data = reader.nullable_bytes("user_data")
    return Assignment(partitions=partitions, user_data=user_data)


def _check_version(version: int, version_max: int, what: str) -> None:
    if not 0 <= version <= version_max:
        raise ProtocolEncodeError(f"{what} version {version} is not in [0, {version_max}]")


def _string(value: str, field: str) -> bytes:
    encoded = value.encode("utf-8")
    if len(encoded) > _INT16_MAX:
        raise ProtocolEncodeError(f"{field} is {len(encoded)} bytes; at most {_INT16_MAX} fit")
    return _INT16.pack(len(encoded)) + encoded


def _nullable_bytes(value: bytes | None) -> bytes:
    if value is None:
        return _INT32.pack(-1)
    if len(value) > _INT32_MAX:
        raise ProtocolEncodeError(f"user_data is {len(value)} bytes; at most {_INT32_MAX} fit")
    return _INT32.pack(len(value)) + value


def _int32(value: int, field: str) -> bytes:
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise ProtocolEncodeError(f"{field} {value} does not fit in 32 bits")
    return _INT32.pack(value)


def _topic_partitions(partitions: Iterable[TopicPartition]) -> bytes:
    """Grouped by topic in order of first appearance, as Kafka's serializer does."""
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    parts = [_INT32.pack(len(grouped))]
    for topic, numbers in grouped.items():
        parts.append(_string(topic, "topic"))
        parts.append(_INT32.pack(len(numbers)))
        parts.extend(_int32(n, "partition") for n in numbers)
    return b"".join(parts)


def encode_subscription(
    subscription: Subscription, version: int = SUBSCRIPTION_VERSION_MAX
) -> bytes:
    """ConsumerProtocolSubscription bytes of ``version`` (fields it lacks are left out).

    Topics and owned partitions are sorted first, as Kafka's ``serializeSubscription`` does,
    so equal subscriptions give equal bytes.  Raises
    :class:`~partitioning.errors.ProtocolEncodeError` for a version outside 0-3 or a value
    the format cannot hold (a name over 32767 UTF-8 bytes, a number over 32 bits).
    """
    _check_version(version, SUBSCRIPTION_VERSION_MAX, "subscription")
    topics = sorted(subscription.topics)
    parts = [_INT16.pack(version), _INT32.pack(len(topics))]
    parts.extend(_string(topic, "topic") for topic in topics)
    parts.append(_nullable_bytes(subscription.user_data))
    if version >= 1:
        parts.append(_topic_partitions(sorted(subscription.owned_partitions)))
    if version >= 2:
        generation = subscription.generation_id
        parts.append(_int32(-1 if generation is None else generation, "generation_id"))
    if version >= 3:
        rack = subscription.rack_id
        parts.append(_INT16.pack(-1) if rack is None else _string(rack, "rack_id"))
    return b"".join(parts)


def encode_assignment(assignment: Assignment, version: int = ASSIGNMENT_VERSION_MAX) -> bytes:
    """ConsumerProtocolAssignment bytes (every version 0-3 has the same fields).

    Raises :class:`~partitioning.errors.ProtocolEncodeError` as :func:`encode_subscription`.
    """
    _check_version(version, ASSIGNMENT_VERSION_MAX, "assignment")
    return b"".join(
        (
            _INT16.pack(version),
            _topic_partitions(assignment.partitions),
            _nullable_bytes(assignment.user_data),
        )
    )
