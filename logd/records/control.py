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
from logd.records.header import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Compression
from logd.records.record import Record

__all__ = [
    "CONTROL_KEY_VERSION",
    "ControlType",
    "build_control_batch",
    "control_key",
    "parse_control_record",
]

#: The key version Kafka writes (``ControlRecordType.CURRENT_CONTROL_RECORD_KEY_VERSION``).
CONTROL_KEY_VERSION: Final = 0
_KEY: Final = struct.Struct(">hh")


class ControlType(enum.IntEnum):
    """Control record types, numbered as Kafka's ``ControlRecordType``."""

    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6


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
