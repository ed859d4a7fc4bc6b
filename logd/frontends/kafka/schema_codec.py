"""Bounds-checked readers and writers for kio's Kafka message types (sans-I/O).

The message *types* come from ``kio`` (frozen dataclasses generated from Kafka's JSON
message schemas: field order, Kafka types, flexible versions and tag numbers in each field's
metadata). Its serializers we do not use for two reasons, measured in issue 14's note:

* kio's Rust reader reserves memory for an array's *claimed* length before it reads a
  single element: a 5-byte Metadata request claiming 2**32 topics makes it ask for 32 GiB
  and abort the process (the CVE-2022-34917 class of bug). Every reader here checks a
  claimed count against the bytes that are left (divided by the smallest possible element)
  and never reserves anything up front.
* kio's writer builds an ``io.BytesIO`` per entity for the tagged fields; ours appends to
  one ``bytearray`` and is several times faster on Metadata and Fetch answers.

So this module *compiles* a reader and a writer per kio class from the same field metadata
kio uses (once, cached), and the tests check both against kio's own reader and writer on
valid input, for every message of every version. Every failure on bad input is
:class:`SchemaDecodeError`.

Pure: no I/O; safe to call from any thread (the caches only ever gain entries).
"""

from __future__ import annotations

import dataclasses
import datetime
import struct
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

from kio.schema.errors import ErrorCode
from kio.serial._implicit_defaults import get_tagged_field_default  # kio pinned exactly

__all__ = [
    "Reader",
    "SchemaDecodeError",
    "Writer",
    "decode",
    "encode",
    "reader_for",
    "writer_for",
]

T = TypeVar("T")
R = TypeVar("R")

#: ``read(buf, pos) -> (value, next_pos)``; raises :class:`SchemaDecodeError`.
Reader = Callable[[bytes | memoryview, int], tuple[Any, int]]
#: ``write(out, value)`` appends the encoding of ``value`` to ``out``.
Writer = Callable[[bytearray, Any], None]

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_ZERO_UUID: Final = bytes(16)
_MAX_VARINT_BYTES: Final = 5  # Kafka's ByteUtils.readUnsignedVarint: at most 5 bytes


def _per_class(build: Callable[[type[Any]], R]) -> Callable[[type[Any]], R]:
    """Memoize ``build`` per kio class (``functools.cache`` without mypy's Hashable fuss).
    Entries are only ever added; a race builds one twice, harmlessly."""
    cache: dict[type[Any], R] = {}

    def get(cls: type[Any]) -> R:
        try:
            return cache[cls]
        except KeyError:
            value = cache[cls] = build(cls)
            return value

    get.__doc__ = build.__doc__
    return get


class SchemaDecodeError(ValueError):
    """The bytes are not a valid encoding of the message (Kafka: InvalidRequestException)."""


def decode(cls: type[T], buf: bytes | memoryview, pos: int = 0) -> tuple[T, int]:
    """Decode one ``cls`` at ``buf[pos:]``; the value and the position after it."""
    value, end = reader_for(cls)(buf, pos)
    return value, end


def encode(cls: type[Any], value: Any, out: bytearray | None = None) -> bytearray:
    """Append the encoding of ``value`` (a ``cls``) to ``out`` (a new buffer by default)."""
    if out is None:
        out = bytearray()
    writer_for(cls)(out, value)
    return out


# -- varints ------------------------------------------------------------------------------


def read_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Kafka's unsigned varint (at most 5 bytes, 35 bits as kio's ``uvarint``)."""
    result = 0
    shift = 0
    end = len(buf)
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= end:
            raise SchemaDecodeError("truncated varint")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise SchemaDecodeError("varint longer than 5 bytes")


def write_uvarint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError(f"negative unsigned varint {value}")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


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
        (n,) = _I32.unpack_from(buf, pos)
        pos += 4
    else:
        if pos + 2 > len(buf):
            raise SchemaDecodeError("truncated message")
        (n,) = _I16.unpack_from(buf, pos)
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


_FIXED_SIZES: Final = {
    "int8": 1,
    "bool": 1,
    "int16": 2,
    "uint16": 2,
    "error_code": 2,
    "int32": 4,
    "timedelta_i32": 4,
    "int64": 8,
    "timedelta_i64": 8,
    "datetime_i64": 8,
    "float64": 8,
    "uuid": 16,
}


def _primitive_reader(kafka_type: str, flexible: bool, nullable: bool) -> Reader:
    match kafka_type:
        case "int8":
            return _fixed_reader(_I8)
        case "bool":
            return _fixed_reader(_I8, bool)
        case "int16":
            return _fixed_reader(_I16)
        case "uint16":
            return _fixed_reader(_U16)
        case "error_code":
            return _fixed_reader(_I16, _error_code)
        case "int32":
            return _fixed_reader(_I32)
        case "timedelta_i32":
            return _fixed_reader(_I32, _timedelta)
        case "int64":
            return _fixed_reader(_I64)
        case "timedelta_i64":
            return _fixed_reader(_I64, _timedelta)
        case "datetime_i64":
            return _fixed_reader(_I64, _nullable_datetime if nullable else _datetime)
        case "float64":
            return _fixed_reader(_F64)
        case "uuid":
            return _read_uuid
        case "string":
            return _string_reader(flexible, nullable)
        case "bytes" | "records":
            return _bytes_reader(flexible, nullable)
    raise TypeError(f"no reader for Kafka type {kafka_type!r}")


def _primitive_min_size(kafka_type: str, flexible: bool) -> int:
    if kafka_type in _FIXED_SIZES:
        return _FIXED_SIZES[kafka_type]
    if flexible:
        return 1
    return 2 if kafka_type == "string" else 4


# -- field classification (kio's dataclass metadata) ---------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kafka_type: str
    tag: int | None
    nullable: bool
    array: bool
    entity: type[Any] | None  # a nested kio class, or None for a primitive
    default: Any  # the value a tagged field is left out at


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp}")
        return args[0], True
    return tp, False


def _classify(cls: type[Any], f: dataclasses.Field[Any], hints: dict[str, Any]) -> _Field:
    tp, nullable = _unwrap_optional(hints[f.name])
    array = typing.get_origin(tp) is tuple
    if array:
        inner, _ellipsis = typing.get_args(tp)
        tp, _ = _unwrap_optional(inner)
    entity = tp if dataclasses.is_dataclass(tp) else None
    tag = f.metadata.get("tag")
    return _Field(
        name=f.name,
        kafka_type=f.metadata.get("kafka_type", ""),
        tag=None if tag is None else int(tag),
        nullable=nullable,
        array=array,
        entity=entity,  # type: ignore[arg-type]
        default=_tag_default(f) if tag is not None else None,
    )


def _tag_default(f: dataclasses.Field[Any]) -> Any:
    """The value at which a tagged field is left out, and read when absent: kio's own rule,
    so that a value omitted by its writer reads back the same."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return get_tagged_field_default(f)


@_per_class
def _fields(cls: type[Any]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)  # annotations may be strings (PEP 563)
    return tuple(_classify(cls, f, hints) for f in dataclasses.fields(cls))


def _is_request_header(cls: type[Any]) -> bool:
    return cls.__name__ == "RequestHeader"


@_per_class
def _min_size(cls: type[Any]) -> int:
    """The fewest bytes one encoded ``cls`` takes (bounds claimed array counts)."""
    flexible = bool(cls.__flexible__)
    total = 1 if flexible else 0  # the tagged-field count
    for f in _fields(cls):
        if f.tag is not None:
            continue
        if f.array:
            total += 1 if flexible else 4
        elif f.entity is not None:
            total += 1 if f.nullable else _min_size(f.entity)
        else:
            total += _primitive_min_size(f.kafka_type, flexible)
    return total


# -- readers ------------------------------------------------------------------------------


def _array_reader(item: Reader, item_min: int, flexible: bool, nullable: bool) -> Reader:
    item_min = max(item_min, 1)

    def read(buf: bytes | memoryview, pos: int) -> tuple[tuple[Any, ...] | None, int]:
        if flexible:
            n, pos = read_uvarint(buf, pos)
            n -= 1
        else:
            if pos + 4 > len(buf):
                raise SchemaDecodeError("truncated message")
            (n,) = _I32.unpack_from(buf, pos)
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


def _field_reader(cls: type[Any], f: _Field) -> Reader:
    flexible = bool(cls.__flexible__)
    if _is_request_header(cls) and f.name == "client_id":
        # Kafka's RequestHeader.json: client_id stays a legacy string even in header v2.
        return _string_reader(flexible=False, nullable=True)
    nullable = f.nullable and f.tag is None
    if f.entity is not None:
        inner = reader_for(f.entity)
        if f.array:
            return _array_reader(inner, _min_size(f.entity), flexible, nullable)
        return _nullable_entity_reader(inner) if nullable else inner
    if f.array:
        item = _primitive_reader(f.kafka_type, flexible, nullable=False)
        return _array_reader(item, _primitive_min_size(f.kafka_type, flexible), flexible, nullable)
    return _primitive_reader(f.kafka_type, flexible, nullable)


def _nullable_entity_reader(inner: Reader) -> Reader:
    """KIP-893: an int8 marker, -1 for null, then the struct."""

    def read(buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if pos >= len(buf):
            raise SchemaDecodeError("truncated message")
        marker = _I8.unpack_from(buf, pos)[0]
        if marker < 0:
            return None, pos + 1
        return inner(buf, pos + 1)

    return read


@_per_class
def reader_for(cls: type[T]) -> Reader:
    """The compiled reader of one kio class (cached)."""
    flexible = bool(cls.__flexible__)  # type: ignore[attr-defined]
    plain: list[tuple[str, Reader]] = []
    tagged: dict[int, tuple[str, Reader]] = {}
    defaults: dict[str, Any] = {}
    for f in _fields(cls):
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


# -- writers ------------------------------------------------------------------------------


def _fixed_writer(fmt: struct.Struct, convert: Callable[[Any], int] | None = None) -> Writer:
    pack = fmt.pack

    def write(out: bytearray, value: Any) -> None:
        out += pack(value if convert is None else convert(value))

    return write


def _ms(value: datetime.timedelta | int) -> int:
    """A duration field: kio's timedelta, or milliseconds as an int (handlers' choice)."""
    if isinstance(value, int):
        return value
    return round(value.total_seconds() * 1000)


def _ms_since_epoch(value: datetime.datetime | int | None) -> int:
    """A timestamp field: kio's datetime (None: -1), or milliseconds as an int."""
    if value is None:
        return -1
    if isinstance(value, int):
        return value
    return round(value.timestamp() * 1000)


def _write_uuid(out: bytearray, value: uuid.UUID | None) -> None:
    out += b"\x00" * 16 if value is None else value.bytes


def _blob_writer(flexible: bool, wide: bool) -> Writer:
    def write(out: bytearray, value: str | bytes | None) -> None:
        if value is None:
            if flexible:
                out.append(0)
            else:
                out += b"\xff\xff\xff\xff" if wide else b"\xff\xff"
            return
        data = value.encode() if isinstance(value, str) else value
        if flexible:
            write_uvarint(out, len(data) + 1)
        else:
            out += _I32.pack(len(data)) if wide else _I16.pack(len(data))
        out += data

    return write


def _primitive_writer(kafka_type: str, flexible: bool) -> Writer:
    match kafka_type:
        case "int8" | "bool":
            return _fixed_writer(_I8, int)
        case "int16":
            return _fixed_writer(_I16)
        case "uint16":
            return _fixed_writer(_U16)
        case "error_code":
            return _fixed_writer(_I16, int)
        case "int32":
            return _fixed_writer(_I32)
        case "timedelta_i32":
            return _fixed_writer(_I32, _ms)
        case "int64":
            return _fixed_writer(_I64)
        case "timedelta_i64":
            return _fixed_writer(_I64, _ms)
        case "datetime_i64":
            return _fixed_writer(_I64, _ms_since_epoch)
        case "float64":
            return _fixed_writer(_F64, float)  # type: ignore[arg-type]
        case "uuid":
            return _write_uuid
        case "string":
            return _blob_writer(flexible, wide=False)
        case "bytes" | "records":
            return _blob_writer(flexible, wide=True)
    raise TypeError(f"no writer for Kafka type {kafka_type!r}")


def _array_writer(item: Writer, flexible: bool) -> Writer:
    def write(out: bytearray, items: Any) -> None:
        if items is None:
            if flexible:
                out.append(0)
            else:
                out += b"\xff\xff\xff\xff"
            return
        if flexible:
            write_uvarint(out, len(items) + 1)
        else:
            out += _I32.pack(len(items))
        for value in items:
            item(out, value)

    return write


def _nullable_entity_writer(inner: Writer) -> Writer:
    def write(out: bytearray, value: Any) -> None:
        if value is None:
            out.append(0xFF)
            return
        out.append(1)
        inner(out, value)

    return write


def _field_writer(cls: type[Any], f: _Field) -> Writer:
    flexible = bool(cls.__flexible__)
    if _is_request_header(cls) and f.name == "client_id":
        return _blob_writer(flexible=False, wide=False)
    if f.entity is not None:
        inner = writer_for(f.entity)
        if f.array:
            return _array_writer(inner, flexible)
        return _nullable_entity_writer(inner) if f.nullable and f.tag is None else inner
    item = _primitive_writer(f.kafka_type, flexible)
    return _array_writer(item, flexible) if f.array else item


_ABSENT: Final = object()


def _getter(cls: type[Any], f: _Field) -> Callable[[Any], Any]:
    """Reads one field from a kio instance or from a plain ``dict``.

    Handlers answer with dicts (one dict tree serves every version: keys a version lacks
    are ignored); a key left out takes the field's default, and a field without one is a
    bug in the handler.
    """
    name = f.name
    dc_field = {x.name: x for x in dataclasses.fields(cls)}[name]
    if f.tag is not None:
        default = f.default
    elif dc_field.default is not dataclasses.MISSING:
        default = dc_field.default
    elif dc_field.default_factory is not dataclasses.MISSING:
        default = dc_field.default_factory()
    else:
        default = _ABSENT

    def get(value: Any) -> Any:
        if type(value) is dict:
            v = value.get(name, default)
            if v is _ABSENT:
                raise KeyError(f"{cls.__module__}.{cls.__name__}: no value for {name!r}")
            return v
        return getattr(value, name)

    return get


@_per_class
def writer_for(cls: type[Any]) -> Writer:
    """The compiled writer of one kio class (cached); it takes an instance or a dict."""
    flexible = bool(cls.__flexible__)
    plain: list[tuple[Callable[[Any], Any], Writer]] = []
    tagged: list[tuple[int, Callable[[Any], Any], Writer, Any]] = []
    for f in _fields(cls):
        writer = _field_writer(cls, f)
        if f.tag is None:
            plain.append((_getter(cls, f), writer))
        else:
            tagged.append((f.tag, _getter(cls, f), writer, f.default))
    tagged.sort(key=lambda t: t[0])

    def write(out: bytearray, value: Any) -> None:
        for get, writer in plain:
            writer(out, get(value))
        if not flexible:
            return
        if not tagged:
            out.append(0)
            return
        present = [
            (tag, writer, v) for tag, get, writer, default in tagged if (v := get(value)) != default
        ]
        write_uvarint(out, len(present))
        for tag, writer, v in present:
            data = bytearray()
            writer(data, v)
            write_uvarint(out, tag)
            write_uvarint(out, len(data))
            out += data

    return write
