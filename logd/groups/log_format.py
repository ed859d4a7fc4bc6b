"""The record formats of ``__consumer_offsets``: Kafka's key and value schemas, sans-I/O.

A record's key says what it is about, its value what is now true; a record with a null value
(a tombstone) says "forget this key" — the partition is compacted by key, as Kafka's is.
Big-endian throughout, strings as int16 length + UTF-8 (nullable strings use length -1),
bytes as int32 length + data, arrays as int32 count (Kafka's non-flexible encoding).

Keys, each led by an int16 *key version* that doubles as the record type:

* ``OffsetCommitKey`` (version 0 or 1; logd writes 1): group string, topic string,
  partition int32.
* ``GroupMetadataKey`` (version 2): group string.

Values, each led by an int16 value version:

* ``OffsetCommitValue`` v0 (offset, metadata, timestamp), v1 (+ expire timestamp), v2
  (offset, metadata, commit timestamp), v3 (offset, leader epoch, metadata, commit
  timestamp). logd writes v3.
* ``GroupMetadataValue``: protocol type, generation, protocol (nullable), leader (nullable),
  current state timestamp (v2+), members: member id, group instance id (v3+, nullable),
  client id, client host, rebalance timeout (v1+), session timeout, subscription bytes,
  assignment bytes. logd writes v3. (v4, "flexible", is not read; Kafka writes it only when
  asked to.)

Decoding checks every length against what remains before it slices or allocates and raises
:class:`~logd.errors.CorruptRecordError` on malformed input (truncated, trailing bytes, bad
UTF-8, negative lengths) and :class:`~logd.errors.UnsupportedVersionError` on a version it
does not know. Encoders raise :class:`~logd.errors.InvalidRequestError` for a string that
does not fit an int16 length. Pure functions; safe from any thread.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from logd.errors import CorruptRecordError, InvalidRequestError, UnsupportedVersionError

__all__ = [
    "GROUP_METADATA_KEY_VERSION",
    "GROUP_METADATA_VALUE_VERSION",
    "MAX_STRING_BYTES",
    "OFFSET_COMMIT_KEY_VERSION",
    "OFFSET_COMMIT_VALUE_VERSION",
    "GroupMetadataKey",
    "GroupMetadataValue",
    "MemberMetadataValue",
    "OffsetCommitKey",
    "OffsetCommitValue",
    "decode_group_metadata_value",
    "decode_key",
    "decode_offset_commit_value",
    "encode_group_metadata_key",
    "encode_group_metadata_value",
    "encode_offset_commit_key",
    "encode_offset_commit_value",
]

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
GROUP_METADATA_VALUE_VERSION = 3
MAX_STRING_BYTES = 0x7FFF
"""The longest string (in UTF-8 bytes) an int16 length can describe."""

_T = TypeVar("_T")

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_OFFSET_V3_HEAD = struct.Struct(">hqi")  # version, offset, leader epoch

# The smallest encoding of one member (v0: member id, client id and client host as empty
# strings of 2 bytes each, a session timeout of 4, empty subscription and assignment of 4
# each). Bounds a member count against the bytes left before anything is allocated.
_MIN_MEMBER_BYTES = 2 * 3 + 4 + 4 * 2


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    """Key of a committed offset: one per (group, topic, partition)."""

    group_id: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    """Key of a group's membership record: one per group."""

    group_id: str


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    """A committed offset. ``leader_epoch`` is -1 when unknown; ``expire_timestamp_ms`` only
    exists in v1 values and is -1 otherwise."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp_ms: int
    expire_timestamp_ms: int = -1


@dataclass(frozen=True, slots=True)
class MemberMetadataValue:
    """One member as persisted: its subscription for the group's protocol and its assignment."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    """A group after a completed rebalance (or after it became empty)."""

    protocol_type: str
    generation_id: int
    protocol_name: str | None
    leader_id: str | None
    current_state_timestamp_ms: int
    members: tuple[MemberMetadataValue, ...]


# --------------------------------------------------------------------------- encoding


def _string(value: str) -> bytes:
    data = value.encode()
    if len(data) > MAX_STRING_BYTES:
        raise InvalidRequestError(
            f"string of {len(data)} bytes does not fit __consumer_offsets' int16 length"
        )
    return _I16.pack(len(data)) + data


def _nullable_string(value: str | None) -> bytes:
    return _I16.pack(-1) if value is None else _string(value)


def _bytes(value: bytes) -> bytes:
    return _I32.pack(len(value)) + value


def _encode_offset_commit_key(key: OffsetCommitKey) -> bytes:
    return b"".join(
        (
            _I16.pack(OFFSET_COMMIT_KEY_VERSION),
            _string(key.group_id),
            _string(key.topic),
            _I32.pack(key.partition),
        )
    )


def _encode_offset_commit_value(value: OffsetCommitValue) -> bytes:
    return b"".join(
        (
            _OFFSET_V3_HEAD.pack(OFFSET_COMMIT_VALUE_VERSION, value.offset, value.leader_epoch),
            _string(value.metadata),
            _I64.pack(value.commit_timestamp_ms),
        )
    )


def _encode_member(member: MemberMetadataValue) -> bytes:
    return b"".join(
        (
            _string(member.member_id),
            _nullable_string(member.group_instance_id),
            _string(member.client_id),
            _string(member.client_host),
            _I32.pack(member.rebalance_timeout_ms),
            _I32.pack(member.session_timeout_ms),
            _bytes(member.subscription),
            _bytes(member.assignment),
        )
    )


def _encode_group_metadata_value(value: GroupMetadataValue) -> bytes:
    parts = [
        _I16.pack(GROUP_METADATA_VALUE_VERSION),
        _string(value.protocol_type),
        _I32.pack(value.generation_id),
        _nullable_string(value.protocol_name),
        _nullable_string(value.leader_id),
        _I64.pack(value.current_state_timestamp_ms),
        _I32.pack(len(value.members)),
    ]
    parts.extend(_encode_member(m) for m in value.members)
    return b"".join(parts)


def _checked(what: str, encode: Callable[[_T], bytes], item: _T) -> bytes:
    try:
        return encode(item)
    except struct.error as exc:  # an integer outside its field's range
        raise InvalidRequestError(f"{what} does not fit its schema: {exc}") from None


def encode_offset_commit_key(key: OffsetCommitKey) -> bytes:
    """OffsetCommitKey, key version 1."""
    return _checked("offset commit key", _encode_offset_commit_key, key)


def encode_group_metadata_key(key: GroupMetadataKey) -> bytes:
    """GroupMetadataKey, key version 2."""
    return _I16.pack(GROUP_METADATA_KEY_VERSION) + _string(key.group_id)


def encode_offset_commit_value(value: OffsetCommitValue) -> bytes:
    """OffsetCommitValue v3 (``expire_timestamp_ms`` does not exist in v3 and is dropped)."""
    return _checked("offset commit value", _encode_offset_commit_value, value)


def encode_group_metadata_value(value: GroupMetadataValue) -> bytes:
    """GroupMetadataValue v3."""
    return _checked("group metadata value", _encode_group_metadata_value, value)


# --------------------------------------------------------------------------- decoding


class _Reader:
    """Reads Kafka primitives from a buffer, checking each length against what remains.

    Not thread-safe; lives for one decode call.
    """

    __slots__ = ("_buf", "_pos", "_what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self._buf = memoryview(data)
        self._pos = 0
        self._what = what

    def _need(self, n: int) -> int:
        pos = self._pos
        if n > len(self._buf) - pos:
            raise CorruptRecordError(
                f"{self._what} truncated: needs {n} bytes at {pos}, has {len(self._buf) - pos}"
            )
        self._pos = pos + n
        return pos

    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def i16(self) -> int:
        value: int = _I16.unpack_from(self._buf, self._need(2))[0]
        return value

    def i32(self) -> int:
        value: int = _I32.unpack_from(self._buf, self._need(4))[0]
        return value

    def i64(self) -> int:
        value: int = _I64.unpack_from(self._buf, self._need(8))[0]
        return value

    def nullable_string(self) -> str | None:
        length = self.i16()
        if length == -1:
            return None
        if length < 0:
            raise CorruptRecordError(f"{self._what}: negative string length {length}")
        start = self._need(length)
        try:
            return str(self._buf[start : start + length], "utf-8")
        except UnicodeDecodeError:
            raise CorruptRecordError(f"{self._what}: string at {start} is not UTF-8") from None

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise CorruptRecordError(f"{self._what}: null where a string is required")
        return value

    def bytes_(self) -> bytes:
        length = self.i32()
        if length < 0:
            raise CorruptRecordError(f"{self._what}: negative bytes length {length}")
        start = self._need(length)
        return bytes(self._buf[start : start + length])

    def array_count(self, min_item_bytes: int) -> int:
        count = self.i32()
        if count < 0:
            raise CorruptRecordError(f"{self._what}: negative array length {count}")
        if count * min_item_bytes > self.remaining():
            raise CorruptRecordError(
                f"{self._what}: {count} items cannot fit in {self.remaining()} bytes"
            )
        return count

    def end(self) -> None:
        if self.remaining():
            raise CorruptRecordError(f"{self._what}: {self.remaining()} trailing bytes")


def decode_key(data: bytes | bytearray | memoryview) -> OffsetCommitKey | GroupMetadataKey:
    """The key of a ``__consumer_offsets`` record."""
    reader = _Reader(data, "__consumer_offsets key")
    version = reader.i16()
    if version in (0, OFFSET_COMMIT_KEY_VERSION):
        key: OffsetCommitKey | GroupMetadataKey = OffsetCommitKey(
            reader.string(), reader.string(), reader.i32()
        )
    elif version == GROUP_METADATA_KEY_VERSION:
        key = GroupMetadataKey(reader.string())
    else:
        raise UnsupportedVersionError(f"__consumer_offsets key version {version} is unknown")
    reader.end()
    return key


def decode_offset_commit_value(data: bytes | bytearray | memoryview) -> OffsetCommitValue:
    """An OffsetCommitValue of version 0 to 3."""
    reader = _Reader(data, "offset commit value")
    version = reader.i16()
    if not 0 <= version <= OFFSET_COMMIT_VALUE_VERSION:
        raise UnsupportedVersionError(f"offset commit value version {version} is not supported")
    offset = reader.i64()
    leader_epoch = reader.i32() if version >= 3 else -1
    metadata = reader.string()
    commit_timestamp_ms = reader.i64()
    expire_timestamp_ms = reader.i64() if version == 1 else -1
    reader.end()
    return OffsetCommitValue(
        offset, leader_epoch, metadata, commit_timestamp_ms, expire_timestamp_ms
    )


def _decode_member(reader: _Reader, version: int) -> MemberMetadataValue:
    member_id = reader.string()
    group_instance_id = reader.nullable_string() if version >= 3 else None
    client_id = reader.string()
    client_host = reader.string()
    rebalance_timeout_ms = reader.i32() if version >= 1 else -1
    session_timeout_ms = reader.i32()
    if version == 0:
        # v0 predates the rebalance timeout; Kafka then used the session timeout for both.
        rebalance_timeout_ms = session_timeout_ms
    return MemberMetadataValue(
        member_id=member_id,
        group_instance_id=group_instance_id,
        client_id=client_id,
        client_host=client_host,
        rebalance_timeout_ms=rebalance_timeout_ms,
        session_timeout_ms=session_timeout_ms,
        subscription=reader.bytes_(),
        assignment=reader.bytes_(),
    )


def decode_group_metadata_value(data: bytes | bytearray | memoryview) -> GroupMetadataValue:
    """A GroupMetadataValue of version 0 to 3."""
    reader = _Reader(data, "group metadata value")
    version = reader.i16()
    if not 0 <= version <= GROUP_METADATA_VALUE_VERSION:
        raise UnsupportedVersionError(f"group metadata value version {version} is not supported")
    protocol_type = reader.string()
    generation_id = reader.i32()
    protocol_name = reader.nullable_string()
    leader_id = reader.nullable_string()
    current_state_timestamp_ms = reader.i64() if version >= 2 else -1
    count = reader.array_count(_MIN_MEMBER_BYTES)
    members = tuple(_decode_member(reader, version) for _ in range(count))
    reader.end()
    return GroupMetadataValue(
        protocol_type=protocol_type,
        generation_id=generation_id,
        protocol_name=protocol_name,
        leader_id=leader_id,
        current_state_timestamp_ms=current_state_timestamp_ms,
        members=members,
    )
