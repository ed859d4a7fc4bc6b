"""One record of a RecordBatch v2, encoded exactly as Kafka's ``DefaultRecord``.

Layout (all varints zigzag, see :mod:`logd.records.varint`)::

    length          varint   bytes after this field
    attributes      int8     unused by Kafka: written 0, ignored on read
    timestampDelta  varlong  timestamp - batch baseTimestamp
    offsetDelta     varint   offset - batch baseOffset
    keyLength       varint   -1 for a null key
    key             bytes
    valueLength     varint   -1 for a null value
    value           bytes
    headerCount     varint
    headers         headerKeyLength varint, headerKey UTF-8,
                    headerValueLength varint (-1 for null), headerValue

:func:`iter_records` is the consumer hot path: one hand-inlined loop, because at a million
records a second every bytecode per record counts. Its fast paths read the common one- and
two-byte varints inline and fall back to :mod:`logd.records.varint` for the rest. Every
length is checked against the end of its record before anything is sliced, and a record
must end exactly where its length says (Kafka's ``DefaultRecord.readFrom`` checks the same).

Pure functions: thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, NamedTuple

from logd.errors import CorruptRecordError, InvalidRecordError, MessageTooLargeError
from logd.records.varint import (
    INT32_MAX,
    NULL_LENGTH,
    SMALL_VARINTS,
    SMALL_VARINTS_SIZE,
    encode_varint,
    encode_varlong,
    read_raw_varint,
    read_raw_varlong,
)

__all__ = [
    "MIN_HEADER_SIZE",
    "MIN_RECORD_SIZE",
    "NO_MIN_OFFSET",
    "Header",
    "Record",
    "decode_headers",
    "encode_headers",
    "encode_length",
    "encode_record",
    "iter_records",
    "py_records_list",
]

#: One header: a UTF-8 key and a nullable value.
Header = tuple[str, bytes | None]

#: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount:
#: one byte each at least, so a batch of N records needs at least 7 * N bytes.
MIN_RECORD_SIZE: Final = 7
#: headerKeyLength and headerValueLength, one byte each at least.
MIN_HEADER_SIZE: Final = 2
#: Below every offset a batch can hold (a base offset is a signed 64-bit number).
NO_MIN_OFFSET: Final = -(1 << 64)


class Record(NamedTuple):
    """A decoded record with its absolute offset and timestamp.

    A NamedTuple rather than a frozen dataclass: both are immutable and slotted, but a
    frozen dataclass costs ~470 ns to build (``object.__setattr__`` per field) against
    ~70 ns here, and the consumer builds a million of these a second.
    """

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def encode_length(n: int) -> bytes:
    """The varint of a non-negative length; MessageTooLargeError past 2**31 - 1."""
    if n < SMALL_VARINTS_SIZE:
        return SMALL_VARINTS[n]
    if n > INT32_MAX:
        raise MessageTooLargeError(f"a record field of {n} bytes exceeds the 2 GiB limit")
    return encode_varint(n)


def encode_headers(headers: Sequence[Header]) -> bytes:
    """headerCount and the headers, as Kafka writes them."""
    if not headers:
        return b"\x00"
    parts = [encode_length(len(headers))]
    for name, value in headers:
        try:
            raw = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRecordError(f"header key {name!r} is not valid UTF-8") from None
        parts.append(encode_length(len(raw)))
        parts.append(raw)
        if value is None:
            parts.append(NULL_LENGTH)
        else:
            parts.append(encode_length(len(value)))
            parts.append(value)
    return b"".join(parts)


def encode_record(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header] = (),
) -> bytes:
    """One whole record, length prefix included (the builder inlines the same steps)."""
    body = b"".join(
        (
            b"\x00",
            encode_varlong(timestamp_delta),
            encode_varint(offset_delta),
            NULL_LENGTH if key is None else encode_length(len(key)),
            b"" if key is None else key,
            NULL_LENGTH if value is None else encode_length(len(value)),
            b"" if value is None else value,
            encode_headers(headers),
        )
    )
    return encode_length(len(body)) + body


def _read_nullable(data: bytes, pos: int, end: int, what: str) -> tuple[bytes | None, int]:
    """A length-prefixed nullable field (key, value, header value) that ends by ``end``."""
    raw, pos = read_raw_varint(data, pos, end)
    if raw & 1:
        if raw == 1:
            return None, pos
        raise CorruptRecordError(f"negative {what} length {(raw >> 1) ^ -1}")
    stop = pos + (raw >> 1)
    if stop > end:
        raise CorruptRecordError(f"{what} length {raw >> 1} runs past the end of its record")
    return data[pos:stop], stop


def decode_headers(data: bytes, pos: int, end: int) -> tuple[tuple[Header, ...], int]:
    """headerCount and the headers at ``pos``, all within ``end``; the position after them."""
    raw, pos = read_raw_varint(data, pos, end)
    if raw & 1:
        raise CorruptRecordError("negative header count")
    count = raw >> 1
    if count * MIN_HEADER_SIZE > end - pos:
        raise CorruptRecordError(f"header count {count} cannot fit in its record")
    headers: list[Header] = []
    for _ in range(count):
        raw, pos = read_raw_varint(data, pos, end)
        if raw & 1:
            raise CorruptRecordError("negative header key length")
        stop = pos + (raw >> 1)
        if stop > end:
            raise CorruptRecordError("header key runs past the end of its record")
        try:
            name = data[pos:stop].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptRecordError("header key is not valid UTF-8") from None
        value, pos = _read_nullable(data, stop, end, "header value")
        headers.append((name, value))
    return tuple(headers), pos


def iter_records(  # noqa: PLR0915 - one inlined loop is the point (module docstring)
    data: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None = None,
    cls: type[tuple[Any, ...]] = Record,
    tail: tuple[Any, ...] = (),
    min_offset: int = NO_MIN_OFFSET,
) -> Iterator[Any]:
    """Lazily decode ``count`` records that fill ``data`` exactly.

    ``log_append_time``, when given, replaces every record's timestamp (a LogAppendTime
    batch: Kafka reports the batch's maxTimestamp for each record). Raises
    :class:`CorruptRecordError` at the first malformed record, or at the end when bytes
    are left over.

    Each record is yielded as ``cls((offset, timestamp, key, value, headers) + tail)``
    (a :class:`Record` by default); records below ``min_offset`` are checked but not
    yielded. The client passes its ``ConsumerRecord`` and ``(topic, partition, ...)`` so
    that one object is built per record, not two.
    """
    end = len(data)
    if count * MIN_RECORD_SIZE > end:
        raise CorruptRecordError(f"record count {count} cannot fit in {end} bytes of records")
    pos = 0
    new = tuple.__new__
    try:
        for _ in range(count):
            # Each varint below is read inline when it is one or two bytes long (values
            # under 8192: nearly every length and delta), else by the bounds-checked reader.
            # length
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif (c := data[pos + 1]) < 0x80:
                b = (b & 0x7F) | (c << 7)
                pos += 2
            else:
                b, pos = read_raw_varint(data, pos, end)
            if b & 1:
                raise CorruptRecordError("negative record length")
            rec_end = pos + (b >> 1)
            if rec_end > end:
                raise CorruptRecordError("record length runs past the end of the batch")
            # attributes (ignored, as Kafka does), then timestampDelta
            pos += 1
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif (c := data[pos + 1]) < 0x80:
                b = (b & 0x7F) | (c << 7)
                pos += 2
            else:
                b, pos = read_raw_varlong(data, pos, rec_end)
            timestamp = base_timestamp + ((b >> 1) ^ -(b & 1))
            # offsetDelta
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif (c := data[pos + 1]) < 0x80:
                b = (b & 0x7F) | (c << 7)
                pos += 2
            else:
                b, pos = read_raw_varint(data, pos, rec_end)
            offset = base_offset + ((b >> 1) ^ -(b & 1))
            # key
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif (c := data[pos + 1]) < 0x80:
                b = (b & 0x7F) | (c << 7)
                pos += 2
            else:
                b, pos = read_raw_varint(data, pos, rec_end)
            if b & 1:
                if b != 1:
                    raise CorruptRecordError("negative key length")
                key = None
            else:
                stop = pos + (b >> 1)
                if stop > rec_end:
                    raise CorruptRecordError("key length runs past the end of its record")
                key = data[pos:stop]
                pos = stop
            # value
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif (c := data[pos + 1]) < 0x80:
                b = (b & 0x7F) | (c << 7)
                pos += 2
            else:
                b, pos = read_raw_varint(data, pos, rec_end)
            if b & 1:
                if b != 1:
                    raise CorruptRecordError("negative value length")
                value = None
            else:
                stop = pos + (b >> 1)
                if stop > rec_end:
                    raise CorruptRecordError("value length runs past the end of its record")
                value = data[pos:stop]
                pos = stop
            # headerCount: usually zero
            if data[pos] == 0:
                headers: tuple[Header, ...] = ()
                pos += 1
            else:
                headers, pos = decode_headers(data, pos, rec_end)
            if pos != rec_end:
                raise CorruptRecordError("record length disagrees with the fields it holds")
            if log_append_time is not None:
                timestamp = log_append_time
            if offset >= min_offset:
                # A concatenation, not *tail: one BINARY_OP, and free when tail is ().
                yield new(cls, (offset, timestamp, key, value, headers) + tail)  # noqa: RUF005
    except IndexError:
        raise CorruptRecordError("record runs past the end of the batch") from None
    if pos != end:
        raise CorruptRecordError(f"{end - pos} bytes left after the last record")


def py_records_list(
    data: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None,
    cls: type[tuple[Any, ...]],
    tail: tuple[Any, ...],
    min_offset: int,
) -> list[Any]:
    """Every record of ``data`` at or above ``min_offset``, decoded now, as :func:`iter_records`
    builds them. The pure-Python reference of ``logd.records._speedups.records_list``;
    :mod:`logd.records.accel` picks one of the two."""
    return list(
        iter_records(data, count, base_offset, base_timestamp, log_append_time, cls, tail,
                     min_offset)
    )  # fmt: skip
