"""The Kafka codec's reader: one compiled, bounds-checked reader per kio message class.

Every reader checks a claimed length or count against the bytes that are left (an array's
count divided by the smallest possible element) before it reads, and reserves nothing up
front: a few bytes claiming 2**32 elements fail at once instead of allocating (the
CVE-2022-34917 class of bug that kio's own Rust reader has). Every failure on bad input is
:class:`~logd.frontends.kafka.schema_fields.SchemaDecodeError`.

Pure: no I/O; safe to call from any thread (the caches only ever gain entries).
"""

from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

from kio.schema.errors import ErrorCode

from logd.frontends.kafka.schema_fields import (
    F64,
    I8,
    I16,
    I32,
    I64,
    U16,
    Field,
    Reader,
    SchemaDecodeError,
    fields_of,
    is_request_header,
    min_size,
    per_class,
    primitive_min_size,
    read_uvarint,
)

__all__ = ["decode", "reader_for"]

T = TypeVar("T")

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_ZERO_UUID: Final = bytes(16)


def decode(cls: type[T], buf: bytes | memoryview, pos: int = 0) -> tuple[T, int]:
    """Decode one ``cls`` at ``buf[pos:]``; the value and the position after it."""
    value, end = reader_for(cls)(buf, pos)
    return value, end


# -- primitive readers --------------------------------------------------------------------


def _fixed_reader(fmt: struct.Struct, convert: Callable[[Any], Any] | None = None) -> Reader:
    size = fmt.size
    unpack = fmt.unpack_from

    def read(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if pos + size > len(buf):
            raise SchemaDecodeError("truncated message")
        (value,) = unpack(buf, pos)
        return (value if convert is None else convert(value)), pos + size

    return read


def _error_code(value: int) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        raise SchemaDecodeError(f"unknown error code {value}") from None


def _timedelta(value: int) -> datetime.timedelta:
    try:
        return datetime.timedelta(milliseconds=value)
    except OverflowError:
        raise SchemaDecodeError(f"duration of {value} ms out of range") from None


def _datetime(value: int) -> datetime.datetime:
    try:
        return _EPOCH + datetime.timedelta(milliseconds=value)
    except OverflowError:
        raise SchemaDecodeError(f"timestamp {value} out of range") from None


def _nullable_datetime(value: int) -> datetime.datetime | None:
    return None if value == -1 else _datetime(value)


def _read_uuid(buf: bytes | memoryview, pos: int) -> tuple[uuid.UUID | None, int]:
    """kio types every UUID field ``UUID | None``: the all-zero UUID reads as None."""
    if pos + 16 > len(buf):
        raise SchemaDecodeError("truncated message")
    data = bytes(buf[pos : pos + 16])
    return (None if data == _ZERO_UUID else uuid.UUID(bytes=data)), pos + 16


def _read_blob(buf: bytes | memoryview, pos: int, flexible: bool, wide: bool) -> tuple[int, int]:
    """The length of a string/bytes field (-1: null) and where its data starts."""
    if flexible:
        n, pos = read_uvarint(buf, pos)
        n -= 1
    elif wide:
        if pos + 4 > len(buf):
            raise SchemaDecodeError("truncated message")
        (n,) = I32.unpack_from(buf, pos)
        pos += 4
    else:
        if pos + 2 > len(buf):
            raise SchemaDecodeError("truncated message")
        (n,) = I16.unpack_from(buf, pos)
        pos += 2
    if n < -1:
        raise SchemaDecodeError(f"negative length {n}")
    if n > len(buf) - pos:
        raise SchemaDecodeError(f"length {n} runs past the end of the message")
    return n, pos


def _string_reader(flexible: bool, nullable: bool) -> Reader:
    def read(buf: bytes | memoryview, pos: int) -> tuple[str | None, int]:
        n, pos = _read_blob(buf, pos, flexible, wide=False)
        if n < 0:
            if not nullable:
                raise SchemaDecodeError("null in a non-nullable string")
            return None, pos
        try:
            return str(buf[pos : pos + n], "utf-8"), pos + n
        except UnicodeDecodeError:
            raise SchemaDecodeError("string is not UTF-8") from None

    return read


def _bytes_reader(flexible: bool, nullable: bool) -> Reader:
    def read(buf: bytes | memoryview, pos: int) -> tuple[bytes | None, int]:
        n, pos = _read_blob(buf, pos, flexible, wide=True)
        if n < 0:
            if not nullable:
                raise SchemaDecodeError("null in non-nullable bytes")
            return None, pos
        return bytes(buf[pos : pos + n]), pos + n

    return read


def _records_reader(flexible: bool, nullable: bool) -> Reader:
    """A record set (Produce's batches) as a ``bytearray``: the one buffer the core stamps
    and keeps (``Partition`` takes a bytearray as is), copied once out of the frame through
    a memoryview -- ``bytes(buf[a:b])`` and the core's own ``bytearray()`` were two copies
    of every batch (issue 22: 1 MiB batches)."""

    def read(buf: bytes | memoryview, pos: int) -> tuple[bytearray | None, int]:
        n, pos = _read_blob(buf, pos, flexible, wide=True)
        if n < 0:
            if not nullable:
                raise SchemaDecodeError("null in non-nullable records")
            return None, pos
        with memoryview(buf) as view:
            return bytearray(view[pos : pos + n]), pos + n

    return read


def _primitive_reader(kafka_type: str, flexible: bool, nullable: bool) -> Reader:
    match kafka_type:
        case "int8":
            return _fixed_reader(I8)
        case "bool":
            return _fixed_reader(I8, bool)
        case "int16":
            return _fixed_reader(I16)
        case "uint16":
            return _fixed_reader(U16)
        case "error_code":
            return _fixed_reader(I16, _error_code)
        case "int32":
            return _fixed_reader(I32)
        case "timedelta_i32":
            return _fixed_reader(I32, _timedelta)
        case "int64":
            return _fixed_reader(I64)
        case "timedelta_i64":
            return _fixed_reader(I64, _timedelta)
        case "datetime_i64":
            return _fixed_reader(I64, _nullable_datetime if nullable else _datetime)
        case "float64":
            return _fixed_reader(F64)
        case "uuid":
            return _read_uuid
        case "string":
            return _string_reader(flexible, nullable)
        case "bytes":
            return _bytes_reader(flexible, nullable)
        case "records":
            return _records_reader(flexible, nullable)
    raise TypeError(f"no reader for Kafka type {kafka_type!r}")


# -- arrays, entities, tagged fields -------------------------------------------------------


def _array_reader(item: Reader, item_min: int, flexible: bool, nullable: bool) -> Reader:
    item_min = max(item_min, 1)

    def read(buf: bytes | memoryview, pos: int) -> tuple[tuple[Any, ...] | None, int]:
        if flexible:
            n, pos = read_uvarint(buf, pos)
            n -= 1
        else:
            if pos + 4 > len(buf):
                raise SchemaDecodeError("truncated message")
            (n,) = I32.unpack_from(buf, pos)
            pos += 4
        if n < 0:
            if n == -1 and nullable:
                return None, pos
            raise SchemaDecodeError(f"bad array length {n}")
        if n > (len(buf) - pos) // item_min:
            raise SchemaDecodeError(f"array of {n} items runs past the end of the message")
        items = []
        for _ in range(n):
            value, pos = item(buf, pos)
            items.append(value)
        return tuple(items), pos

    return read


def _field_reader(cls: type[Any], f: Field) -> Reader:
    flexible = bool(cls.__flexible__)
    if is_request_header(cls) and f.name == "client_id":
        # Kafka's RequestHeader.json: client_id stays a legacy string even in header v2.
        return _string_reader(flexible=False, nullable=True)
    nullable = f.nullable and f.tag is None
    if f.entity is not None:
        inner = reader_for(f.entity)
        if f.array:
            return _array_reader(inner, min_size(f.entity), flexible, nullable)
        return _nullable_entity_reader(inner) if nullable else inner
    if f.array:
        item = _primitive_reader(f.kafka_type, flexible, nullable=False)
        return _array_reader(item, primitive_min_size(f.kafka_type, flexible), flexible, nullable)
    return _primitive_reader(f.kafka_type, flexible, nullable)


def _nullable_entity_reader(inner: Reader) -> Reader:
    """KIP-893: an int8 marker, -1 for null, then the struct."""

    def read(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if pos >= len(buf):
            raise SchemaDecodeError("truncated message")
        marker = I8.unpack_from(buf, pos)[0]
        if marker < 0:
            return None, pos + 1
        return inner(buf, pos + 1)

    return read


@per_class
def reader_for(cls: type[T]) -> Reader:
    """The compiled reader of one kio class (cached)."""
    flexible = bool(cls.__flexible__)  # type: ignore[attr-defined]
    plain: list[tuple[str, Reader]] = []
    tagged: dict[int, tuple[str, Reader]] = {}
    defaults: dict[str, Any] = {}
    for f in fields_of(cls):
        reader = _field_reader(cls, f)
        if f.tag is None:
            plain.append((f.name, reader))
        else:
            tagged[f.tag] = (f.name, reader)
            defaults[f.name] = f.default

    def read(buf: bytes | memoryview, pos: int) -> tuple[T, int]:
        values: dict[str, Any] = {}
        for name, reader in plain:
            values[name], pos = reader(buf, pos)
        if flexible:
            values.update(defaults)
            pos = _read_tagged(buf, pos, tagged, values)
        try:
            return cls(**values), pos
        except (TypeError, ValueError) as exc:  # a phantom type's range check
            raise SchemaDecodeError(f"bad {cls.__name__}: {exc}") from None

    return read


def _read_tagged(
    buf: bytes | memoryview,
    pos: int,
    tagged: dict[int, tuple[str, Reader]],
    values: dict[str, Any],
) -> int:
    """KIP-482 tagged fields: a count, then (tag, size, data) in rising tag order; unknown
    tags are skipped, known ones must fill exactly their size."""
    count, pos = read_uvarint(buf, pos)
    if count > (len(buf) - pos) // 2:
        raise SchemaDecodeError(f"{count} tagged fields run past the end of the message")
    last = -1
    for _ in range(count):
        tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        if tag <= last:
            raise SchemaDecodeError(f"tagged field {tag} out of order")
        last = tag
        end = pos + size
        if end > len(buf):
            raise SchemaDecodeError("tagged field runs past the end of the message")
        known = tagged.get(tag)
        if known is not None:
            name, reader = known
            values[name], used = reader(buf[:end], pos)
            if used != end:
                raise SchemaDecodeError(f"tagged field {tag} has {end - used} extra bytes")
        pos = end
    return pos
