"""What the Kafka codec compiles from: the field metadata of kio's message classes, and
the pieces its reader and writer share (varints, fixed-size formats, the per-class cache,
the decoding error). See :mod:`logd.frontends.kafka.schema_codec` for why logd compiles its
own reader and writer from kio's types.

Pure: no I/O; safe to call from any thread (the caches only ever gain entries).
"""

from __future__ import annotations

import dataclasses
import struct
import types
import typing
from collections.abc import Callable
from typing import Any, Final, TypeVar

from kio.serial._implicit_defaults import get_tagged_field_default  # kio pinned exactly

__all__ = [
    "F64",
    "FIXED_SIZES",
    "I8",
    "I16",
    "I32",
    "I64",
    "U16",
    "Field",
    "Reader",
    "SchemaDecodeError",
    "Writer",
    "fields_of",
    "is_request_header",
    "min_size",
    "per_class",
    "primitive_min_size",
    "read_uvarint",
    "write_uvarint",
]

R = TypeVar("R")

#: ``read(buf, pos) -> (value, next_pos)``; raises :class:`SchemaDecodeError`.
Reader = Callable[[bytes | memoryview, int], tuple[Any, int]]
#: ``write(out, value)`` appends the encoding of ``value`` to ``out``.
Writer = Callable[[bytearray, Any], None]

I8: Final = struct.Struct(">b")
I16: Final = struct.Struct(">h")
U16: Final = struct.Struct(">H")
I32: Final = struct.Struct(">i")
I64: Final = struct.Struct(">q")
F64: Final = struct.Struct(">d")
_MAX_VARINT_BYTES: Final = 5  # Kafka's ByteUtils.readUnsignedVarint: at most 5 bytes


def per_class(build: Callable[[type[Any]], R]) -> Callable[[type[Any]], R]:
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


# -- field classification (kio's dataclass metadata) ---------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
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


def _classify(cls: type[Any], f: dataclasses.Field[Any], hints: dict[str, Any]) -> Field:
    tp, nullable = _unwrap_optional(hints[f.name])
    array = typing.get_origin(tp) is tuple
    if array:
        inner, _ellipsis = typing.get_args(tp)
        tp, _ = _unwrap_optional(inner)
    entity = tp if dataclasses.is_dataclass(tp) else None
    tag = f.metadata.get("tag")
    return Field(
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


@per_class
def fields_of(cls: type[Any]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls)  # annotations may be strings (PEP 563)
    return tuple(_classify(cls, f, hints) for f in dataclasses.fields(cls))


def is_request_header(cls: type[Any]) -> bool:
    return cls.__name__ == "RequestHeader"


FIXED_SIZES: Final = {
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


def primitive_min_size(kafka_type: str, flexible: bool) -> int:
    if kafka_type in FIXED_SIZES:
        return FIXED_SIZES[kafka_type]
    if flexible:
        return 1
    return 2 if kafka_type == "string" else 4


@per_class
def min_size(cls: type[Any]) -> int:
    """The fewest bytes one encoded ``cls`` takes (bounds claimed array counts)."""
    flexible = bool(cls.__flexible__)
    total = 1 if flexible else 0  # the tagged-field count
    for f in fields_of(cls):
        if f.tag is not None:
            continue
        if f.array:
            total += 1 if flexible else 4
        elif f.entity is not None:
            total += 1 if f.nullable else min_size(f.entity)
        else:
            total += primitive_min_size(f.kafka_type, flexible)
    return total
