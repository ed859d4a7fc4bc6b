"""Decode only the records a filter keeps: key and headers first, the value only if kept.

An event channel that filters (DESIGN.md's primer: publish/subscribe through a channel
that drops what a subscriber does not want) should not pay for what it drops. A record's
fields come in the order length, attributes, timestamp, offset, key, value, headers
(:mod:`logd.records.record`), so to see the headers the value must be stepped over — but
only its length is read: the value bytes are sliced (copied into a ``bytes``) and the
record object built only when ``keep(key, headers)`` says yes. A dropped record costs its
varints, its key and its headers, never its value.

The batch itself is checked and decompressed whole as before (the CRC covers the batch;
a compressed batch has no other way in). Every length is checked against the end of its
record before it is used, as in :func:`~logd.records.record.iter_records`, with the same
:class:`CorruptRecordError` for anything malformed.

Pure functions: thread-safe (``keep`` is called on the caller's thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from logd.errors import CorruptRecordError
from logd.records.record import MIN_RECORD_SIZE, NO_MIN_OFFSET, Header, decode_headers
from logd.records.varint import read_raw_varint, read_raw_varlong

__all__ = ["RecordFilter", "filtered_records"]

_T = TypeVar("_T", bound=tuple[Any, ...])

#: ``keep(key, headers) -> bool``: True keeps the record (its value is then decoded).
RecordFilter = Callable[[bytes | None, tuple[Header, ...]], bool]

_NULL: Final = 1  # the zigzag raw varint of -1


def filtered_records(
    data: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None,
    keep: RecordFilter,
    cls: type[_T],
    tail: tuple[Any, ...] = (),
    min_offset: int = NO_MIN_OFFSET,
) -> list[_T]:
    """The kept records at or above ``min_offset`` of ``count`` records that fill ``data``
    exactly, each built as ``cls((offset, timestamp, key, value, headers) + tail)``.

    ``keep`` sees ``(key, headers)`` of every record at or above ``min_offset``; the value
    of a record it drops is never copied. Raises CorruptRecordError as ``iter_records``.
    """
    end = len(data)
    if count * MIN_RECORD_SIZE > end:
        raise CorruptRecordError(f"record count {count} cannot fit in {end} bytes of records")
    out: list[_T] = []
    new = tuple.__new__
    pos = 0
    for _ in range(count):
        raw, pos = read_raw_varint(data, pos, end)
        if raw & 1:
            raise CorruptRecordError("negative record length")
        rec_end = pos + (raw >> 1)
        if rec_end > end or rec_end <= pos:
            raise CorruptRecordError("record length runs past the end of the batch")
        pos += 1  # attributes
        raw, pos = read_raw_varlong(data, pos, rec_end)
        timestamp = base_timestamp + ((raw >> 1) ^ -(raw & 1))
        raw, pos = read_raw_varint(data, pos, rec_end)
        offset = base_offset + ((raw >> 1) ^ -(raw & 1))
        key_start, key_stop, pos = _field(data, pos, rec_end, "key")
        value_start, value_stop, pos = _field(data, pos, rec_end, "value")
        headers, pos = decode_headers(data, pos, rec_end)
        if pos != rec_end:
            raise CorruptRecordError("record length disagrees with the fields it holds")
        if offset < min_offset:
            continue
        key = None if key_start < 0 else data[key_start:key_stop]
        if not keep(key, headers):
            continue
        value = None if value_start < 0 else data[value_start:value_stop]
        if log_append_time is not None:
            timestamp = log_append_time
        out.append(new(cls, (offset, timestamp, key, value, headers) + tail))  # noqa: RUF005
    if pos != end:
        raise CorruptRecordError(f"{end - pos} bytes left after the last record")
    return out


def _field(data: bytes, pos: int, end: int, what: str) -> tuple[int, int, int]:
    """(start, stop, position after) of a nullable length-prefixed field; start -1: null.
    Only the length is read: the bytes are not touched."""
    raw, pos = read_raw_varint(data, pos, end)
    if raw & 1:
        if raw != _NULL:
            raise CorruptRecordError(f"negative {what} length")
        return -1, -1, pos
    stop = pos + (raw >> 1)
    if stop > end:
        raise CorruptRecordError(f"{what} length runs past the end of its record")
    return pos, stop, stop
