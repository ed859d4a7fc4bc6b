"""Control batches (attribute bit 5): records for the log's own use, skipped by consumers.

Kafka writes transaction markers (ABORT, COMMIT) and KRaft writes its Raft bookkeeping
(LEADER_CHANGE, SNAPSHOT_HEADER/FOOTER, KRAFT_VERSION, KRAFT_VOTERS) as control records:
the key is ``version: int16`` (0) then ``type: int16``, big-endian (Kafka's
``ControlRecordType``); the value is the type's payload. logd's Raft writes its own entries
(a new leader's first entry, configuration changes) the same way, with an opaque value it
encodes itself (DESIGN.md principle 3), so offsets stay Kafka's offsets.

Pure functions: thread-safe.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

from logd.errors import CorruptRecordError
from logd.records.builder import NO_PARTITION_LEADER_EPOCH, BatchBuilder
from logd.records.decoder import decode_batch
from logd.records.header import (
    ATTR_CONTROL,
    HEADER_SIZE,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    Compression,
    rewrite_crc,
)
from logd.records.record import Record

__all__ = [
    "CONTROL_KEY_VERSION",
    "ControlType",
    "build_control_batch",
    "control_key",
    "log_start_batch",
    "log_start_in",
    "log_start_of",
    "parse_control_record",
    "without_timestamps",
]

#: The key version Kafka writes (``ControlRecordType.CURRENT_CONTROL_RECORD_KEY_VERSION``).
CONTROL_KEY_VERSION: Final = 0
_KEY: Final = struct.Struct(">hh")
_OFFSET: Final = struct.Struct(">q")
#: (first timestamp, max timestamp) in a batch header.
_TIMESTAMPS: Final = struct.Struct(">qq")
_BASE_TIMESTAMP_POS: Final = 27
_ATTRIBUTES: Final = struct.Struct(">h")
_ATTRIBUTES_POS: Final = 21
#: Kafka's NO_TIMESTAMP.
_NO_TIMESTAMP: Final = -1


class ControlType(enum.IntEnum):
    """Control record types, numbered as Kafka's ``ControlRecordType``."""

    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6
    #: logd's own (Kafka numbers its types upward from 0; logd's start at 1000 so that no
    #: later Kafka type collides): the partition's records before the offset in the value
    #: are deleted once this record is committed -- Kafka's DeleteRecords, replicated
    #: through the partition's own log (see :func:`log_start_batch`).
    LOG_START = 1000


def control_key(control_type: int) -> bytes:
    """The 4-byte key of a control record of ``control_type``."""
    if not -(1 << 15) <= control_type < (1 << 15):
        raise ValueError(f"control type {control_type} does not fit an int16")
    return _KEY.pack(CONTROL_KEY_VERSION, control_type)


def build_control_batch(
    control_type: int,
    value: bytes,
    *,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    transactional: bool = False,
    compression: int = Compression.NONE,
) -> bytes:
    """A control batch holding one control record; ``value`` is the type's payload.

    Transaction markers are transactional and carry the producer's id and epoch; Raft's
    records (LEADER_CHANGE and the rest) are not transactional and have no producer.
    """
    key = control_key(control_type)
    builder = BatchBuilder(
        compression=compression,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=transactional,
        control=True,
    )
    builder.append(timestamp, key, value)
    return builder.build()


def parse_control_record(record: Record) -> tuple[int, bytes]:
    """``(control_type, value)`` of a record from a control batch.

    The type is a :class:`ControlType` when logd knows it, else the plain number (a newer
    writer's type: callers that skip control records need not understand it). A null
    value reads as ``b""``. A key too short to hold version and type, or with a negative
    version, is corrupt (Kafka's ``ControlRecordType.parse``).
    """
    key = record.key
    if key is None or len(key) < _KEY.size:
        raise CorruptRecordError("control record key is shorter than 4 bytes")
    version, control_type = _KEY.unpack_from(key)
    if version < 0:
        raise CorruptRecordError(f"control record key has a negative version {version}")
    value = record.value if record.value is not None else b""
    try:
        return ControlType(control_type), value
    except ValueError:
        return int(control_type), value


def without_timestamps(batch: bytes | bytearray) -> bytes:
    """``batch`` with Kafka's NO_TIMESTAMP (-1) as its first and max timestamps (CRC
    rewritten): a control batch the log writes for itself, so that time lookups
    (ListOffsets by time), time-based rolls and retention see only producers' records."""
    out = bytearray(batch)
    _TIMESTAMPS.pack_into(out, _BASE_TIMESTAMP_POS, _NO_TIMESTAMP, _NO_TIMESTAMP)
    rewrite_crc(out)
    return bytes(out)


def log_start_batch(offset: int) -> bytes:
    """A LOG_START control batch (offsets not stamped yet): once committed, every replica
    deletes the partition's records before ``offset`` (Kafka's DeleteRecords)."""
    if offset < 0:
        raise ValueError(f"log start offset {offset} is negative")
    return without_timestamps(
        build_control_batch(ControlType.LOG_START, _OFFSET.pack(offset), timestamp=0)
    )


def log_start_of(value: bytes) -> int:
    """The offset a LOG_START control record's ``value`` moves the log start to."""
    if len(value) != _OFFSET.size:
        raise CorruptRecordError(f"LOG_START value of {len(value)} bytes, not {_OFFSET.size}")
    (offset,) = _OFFSET.unpack(value)
    if offset < 0:
        raise CorruptRecordError(f"LOG_START value holds a negative offset {offset}")
    return int(offset)


def log_start_in(batch: bytes | bytearray | memoryview) -> int | None:
    """The log start a stored LOG_START control batch asks for; None for any other batch
    (a producer's batch costs one read of its attributes)."""
    if len(batch) < HEADER_SIZE:
        return None
    (attributes,) = _ATTRIBUTES.unpack_from(batch, _ATTRIBUTES_POS)
    if not attributes & ATTR_CONTROL:
        return None
    records = decode_batch(batch).records()
    if not records:
        return None
    control, value = parse_control_record(records[0])
    return log_start_of(value) if control == ControlType.LOG_START else None
