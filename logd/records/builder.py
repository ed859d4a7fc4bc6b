"""Build RecordBatch v2 bytes: :class:`BatchBuilder` record by record, or a whole list at once.

The producer's hot path is here. :meth:`BatchBuilder.append` encodes each record as it
comes (so :attr:`BatchBuilder.size_in_bytes` is exact and the caller knows when a batch is
full) with table lookups for the small varints and one ``bytes.join`` per record;
:meth:`BatchBuilder.build` joins, compresses and checksums once per batch. For the common
case of many records sharing one timestamp and no headers, :func:`build_value_batch` and
:func:`build_pair_batch` skip the per-call overhead altogether.

As Kafka's ``MemoryRecordsBuilder`` does: baseTimestamp is the first record's timestamp,
maxTimestamp the largest one (or the log-append time), offset deltas run 0..n-1, and an
empty builder builds no batch at all (``b""``).

Not thread-safe: a builder is owned by one producer partition queue.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import Final

import crc32c as _crc32c

from logd.errors import InvalidTimestampError, MessageTooLargeError
from logd.records import accel
from logd.records.compression import check_codec, compress
from logd.records.header import (
    ATTR_CONTROL,
    ATTR_LOG_APPEND_TIME,
    ATTR_TRANSACTIONAL,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    Compression,
)
from logd.records.record import Header, encode_headers, encode_length
from logd.records.value_frame import PrefixFor, value_record_parts
from logd.records.varint import (
    INT32_MAX,
    INT64_MAX,
    NULL_LENGTH,
    SMALL_VARINTS,
    SMALL_VARINTS_SIZE,
    encode_varint,
    encode_varlong,
)

__all__ = [
    "NO_PARTITION_LEADER_EPOCH",
    "BatchBuilder",
    "TimestampType",
    "build_pair_batch",
    "build_value_batch",
    "build_value_buffer",
    "build_value_frame",
]

#: Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH: producers leave the epoch for the leader.
NO_PARTITION_LEADER_EPOCH: Final = -1


class TimestampType(enum.IntEnum):
    """Attribute bit 3: who set the timestamps."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


# The header in two parts around the CRC, which covers everything from attributes on.
_BEFORE_CRC: Final = struct.Struct(">qiibI")  # baseOffset batchLength epoch magic crc
_AFTER_CRC: Final = struct.Struct(">hiqqqhii")  # attributes .. records count
_crc = _crc32c.crc32c
_NO_BEFORE_CRC: Final = bytes(_BEFORE_CRC.size)  # stamped in place by assemble_parts
_N: Final = SMALL_VARINTS_SIZE
_V: Final = SMALL_VARINTS


def _check_timestamp(timestamp: int) -> None:
    # Kafka's ProducerRecord refuses negative timestamps; the upper bound keeps every delta
    # between two of them inside a varlong.
    if not 0 <= timestamp <= INT64_MAX:
        raise InvalidTimestampError(f"timestamp {timestamp} is not in [0, 2**63)")


def _check_width(name: str, value: int, bits: int) -> None:
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{name} {value} does not fit the header's int{bits} field")


class _Spec:
    """The header fields of a batch other than its records, checked once."""

    __slots__ = ("attributes", "base_offset", "codec", "level", "log_append_time", "others")

    def __init__(
        self,
        *,
        compression: int,
        compression_level: int | None,
        base_offset: int,
        partition_leader_epoch: int,
        producer_id: int,
        producer_epoch: int,
        base_sequence: int,
        transactional: bool,
        control: bool = False,
        timestamp_type: TimestampType = TimestampType.CREATE_TIME,
        log_append_time: int | None = None,
    ) -> None:
        self.codec = check_codec(compression)
        self.level = compression_level
        _check_width("base_offset", base_offset, 64)
        _check_width("partition_leader_epoch", partition_leader_epoch, 32)
        _check_width("producer_id", producer_id, 64)
        _check_width("producer_epoch", producer_epoch, 16)
        _check_width("base_sequence", base_sequence, 32)
        if transactional and producer_id == NO_PRODUCER_ID:
            raise ValueError("a transactional batch needs a producer id")
        if producer_id != NO_PRODUCER_ID and producer_epoch < 0:
            raise ValueError("a producer id needs a non-negative producer epoch")
        if producer_id != NO_PRODUCER_ID and base_sequence < 0 and not control:
            raise ValueError("a producer id needs a non-negative base sequence")
        self.attributes = (
            int(self.codec)
            | (ATTR_LOG_APPEND_TIME if timestamp_type is TimestampType.LOG_APPEND_TIME else 0)
            | (ATTR_TRANSACTIONAL if transactional else 0)
            | (ATTR_CONTROL if control else 0)
        )
        if log_append_time is not None:
            if timestamp_type is not TimestampType.LOG_APPEND_TIME:
                raise ValueError("log_append_time needs timestamp_type=LOG_APPEND_TIME")
            _check_timestamp(log_append_time)
        self.log_append_time = (
            log_append_time if timestamp_type is TimestampType.LOG_APPEND_TIME else None
        )
        self.base_offset = base_offset
        self.others = (partition_leader_epoch, producer_id, producer_epoch, base_sequence)

    def assemble(
        self, records: bytes, count: int, base_timestamp: int, max_timestamp: int
    ) -> bytes:
        """Header + (compressed) records, CRC computed; ``b""`` for no records."""
        if count == 0:
            return b""
        payload = (
            records if self.codec is Compression.NONE else compress(self.codec, records, self.level)
        )
        batch_length = HEADER_SIZE - LOG_OVERHEAD + len(payload)
        if batch_length > INT32_MAX:
            raise MessageTooLargeError(f"a batch of {batch_length} bytes exceeds 2 GiB")
        after = self.after_crc(count, base_timestamp, max_timestamp)
        crc = _crc(payload, _crc(after))
        before = _BEFORE_CRC.pack(self.base_offset, batch_length, self.others[0], MAGIC, crc)
        return b"".join((before, after, payload))

    def assemble_parts(
        self, parts: list[bytes], count: int, base_timestamp: int, max_timestamp: int
    ) -> bytes | bytearray:
        """``assemble(b"".join(parts), ...)`` with one copy of the records fewer when
        uncompressed: the header's two parts and ``parts`` joined once into a bytearray,
        then its length and CRC stamped in place (a 1 MiB batch was joined twice: the
        records, then the header with them). Takes ``parts`` over (inserts into it)."""
        if count == 0 or self.codec is not Compression.NONE:
            return self.assemble(b"".join(parts), count, base_timestamp, max_timestamp)
        parts[0:0] = (_NO_BEFORE_CRC, self.after_crc(count, base_timestamp, max_timestamp))
        buf = bytearray().join(parts)
        batch_length = len(buf) - LOG_OVERHEAD
        if batch_length > INT32_MAX:
            raise MessageTooLargeError(f"a batch of {batch_length} bytes exceeds 2 GiB")
        with memoryview(buf) as view:
            crc = _crc(view[_BEFORE_CRC.size :])
        _BEFORE_CRC.pack_into(buf, 0, self.base_offset, batch_length, self.others[0], MAGIC, crc)
        return buf

    def after_crc(self, count: int, base_timestamp: int, max_timestamp: int) -> bytes:
        if self.log_append_time is not None:
            max_timestamp = self.log_append_time
        _, producer_id, producer_epoch, base_sequence = self.others
        return _AFTER_CRC.pack(
            self.attributes,
            count - 1,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            count,
        )


class BatchBuilder:
    """Accumulates records into one batch. Not thread-safe; owned by one producer queue.

    Keyword options: ``compression`` (a Kafka codec number), ``compression_level``,
    ``base_offset`` (the broker stamps the real one), ``partition_leader_epoch``,
    ``producer_id`` / ``producer_epoch`` / ``base_sequence`` (idempotence, KIP-98),
    ``transactional``, ``control`` (attribute bit 5), ``timestamp_type`` and, for
    log-append time, ``log_append_time`` (becomes maxTimestamp, reported for every record).
    """

    __slots__ = ("_base_ts", "_count", "_max_ts", "_parts", "_size", "_spec")

    def __init__(
        self,
        *,
        compression: int = Compression.NONE,
        compression_level: int | None = None,
        base_offset: int = 0,
        partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        base_sequence: int = NO_SEQUENCE,
        transactional: bool = False,
        control: bool = False,
        timestamp_type: TimestampType = TimestampType.CREATE_TIME,
        log_append_time: int | None = None,
    ) -> None:
        self._spec = _Spec(
            compression=compression,
            compression_level=compression_level,
            base_offset=base_offset,
            partition_leader_epoch=partition_leader_epoch,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
            transactional=transactional,
            control=control,
            timestamp_type=timestamp_type,
            log_append_time=log_append_time,
        )
        self._parts: list[bytes] = []
        self._count = 0
        self._size = 0
        self._base_ts = 0
        self._max_ts = 0

    def __len__(self) -> int:
        return self._count

    @property
    def size_in_bytes(self) -> int:
        """The batch's size so far before compression: header + records."""
        return HEADER_SIZE + self._size

    def append(
        self,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
    ) -> int:
        """Add one record; returns its offset delta (its offset once the batch is stamped)."""
        return self.append_encoded(
            timestamp, key, value, encode_headers(headers) if headers else b"\x00"
        )

    def append_encoded(
        self, timestamp: int, key: bytes | None, value: bytes | None, headers: bytes
    ) -> int:
        """:meth:`append` with the headers already encoded (:func:`encode_headers`'s
        bytes): for a caller whose records repeat their headers (MQTT: one device
        publishing to one topic) and encodes them once."""
        count = self._count
        if not 0 <= timestamp <= INT64_MAX:
            raise InvalidTimestampError(f"timestamp {timestamp} is not in [0, 2**63)")
        if count:
            delta = timestamp - self._base_ts
            if timestamp > self._max_ts:  # noqa: PLR1730 - an if is cheaper than a max() call
                self._max_ts = timestamp
        else:
            self._base_ts = self._max_ts = timestamp
            delta = 0
        # One join per record copies key and value at once (so a bytearray the caller
        # changes later cannot change the batch); measured faster than keeping references
        # and computing the length, even for 1 KiB values.
        if key is None:
            kl = NULL_LENGTH
            key = b""
        else:
            kl = _V[len(key)] if len(key) < _N else encode_length(len(key))
        if value is None:
            vl = NULL_LENGTH
            value = b""
        else:
            vl = _V[len(value)] if len(value) < _N else encode_length(len(value))
        body = b"".join(
            (
                b"\x00",
                _V[delta] if 0 <= delta < _N else encode_varlong(delta),
                _V[count] if count < _N else encode_varint(count),
                kl,
                key,
                vl,
                value,
                headers,
            )
        )
        n = len(body)
        length = _V[n] if n < _N else encode_length(n)
        self._parts += (length, body)
        self._size += len(length) + n
        self._count = count + 1
        return count

    def build(self) -> bytes:
        """The whole batch: header, CRC, records compressed with the chosen codec."""
        return self._spec.assemble(b"".join(self._parts), self._count, self._base_ts, self._max_ts)


def build_value_batch(
    values: Sequence[bytes | None],
    timestamp: int,
    *,
    compression: int = Compression.NONE,
    compression_level: int | None = None,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
) -> bytes:
    """One batch of null-key records, no headers, all stamped ``timestamp``: the fast path."""
    buffer = build_value_buffer(
        values, timestamp, compression=compression, compression_level=compression_level,
        base_offset=base_offset, partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id, producer_epoch=producer_epoch, base_sequence=base_sequence,
        transactional=transactional,
    )  # fmt: skip
    return bytes(buffer)


def build_value_buffer(
    values: Sequence[bytes | None],
    timestamp: int,
    *,
    compression: int = Compression.NONE,
    compression_level: int | None = None,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
) -> bytes | bytearray:
    """:func:`build_value_batch`'s bytes, uncompressed ones as a bytearray the caller owns:
    the records copied once, header and all (the producer's path, issue 22)."""
    spec = _Spec(
        compression=compression,
        compression_level=compression_level,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
    )
    _check_timestamp(timestamp)
    parts = value_record_parts(values)
    return spec.assemble_parts(parts, len(values), timestamp, timestamp)


def build_value_frame(
    prefix_for: PrefixFor,
    values: Sequence[bytes | None],
    timestamp: int,
    *,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
) -> tuple[bytes, int]:
    """``prefix_for(size)`` followed by the uncompressed batch :func:`build_value_buffer`
    builds, as ONE ``bytes`` object with the values copied once (the producer's frame,
    ``logd.records.value_frame``); returns it and the offset where the batch begins."""
    if not values:
        raise ValueError("a batch needs at least one record")
    _check_timestamp(timestamp)
    spec = _Spec(
        compression=Compression.NONE,
        compression_level=None,
        base_offset=0,
        partition_leader_epoch=NO_PARTITION_LEADER_EPOCH,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
    )
    # batchLength and crc are zero here: value_frame stamps them once the records are in.
    before = _BEFORE_CRC.pack(spec.base_offset, 0, spec.others[0], MAGIC, 0)
    header = before + spec.after_crc(len(values), timestamp, timestamp)
    try:
        return accel.value_frame(prefix_for, header, values, _crc)
    except OverflowError as exc:
        raise MessageTooLargeError(str(exc)) from None


def build_pair_batch(
    pairs: Sequence[tuple[bytes | None, bytes | None]],
    timestamp: int,
    *,
    compression: int = Compression.NONE,
    compression_level: int | None = None,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
) -> bytes:
    """One batch of ``(key, value)`` records, no headers, all stamped ``timestamp``."""
    spec = _Spec(
        compression=compression,
        compression_level=compression_level,
        base_offset=base_offset,
        partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
    )
    _check_timestamp(timestamp)
    parts: list[bytes] = []
    extend = parts.extend
    for i, (key, value) in enumerate(pairs):
        if key is None:
            kl = NULL_LENGTH
            k = b""
        else:
            n = len(key)
            kl = _V[n] if n < _N else encode_length(n)
            k = key
        if value is None:
            vl = NULL_LENGTH
            v = b""
        else:
            n = len(value)
            vl = _V[n] if n < _N else encode_length(n)
            v = value
        od = _V[i] if i < _N else encode_varint(i)
        n = 3 + len(od) + len(kl) + len(k) + len(vl) + len(v)
        length = _V[n] if n < _N else encode_length(n)
        extend((b"".join((length, b"\x00\x00", od, kl)), k, vl, v, b"\x00"))
    return spec.assemble(b"".join(parts), len(pairs), timestamp, timestamp)
