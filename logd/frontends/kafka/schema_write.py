"""The Kafka codec's writer: one compiled writer per kio message class, appending to one
``bytearray`` (kio's own writer builds an ``io.BytesIO`` per entity for the tagged fields:
2-3x slower on a 100-topic Metadata answer, issue 14's note). A writer takes a kio instance
or a plain ``dict`` (handlers answer with one dict tree for every version).

Pure: no I/O; safe to call from any thread (the caches only ever gain entries).
"""

from __future__ import annotations

import dataclasses
import datetime
import struct
import uuid
from collections.abc import Callable
from typing import Any, Final

from logd.frontends.kafka.schema_fields import (
    F64,
    I8,
    I16,
    I32,
    I64,
    U16,
    Field,
    Writer,
    fields_of,
    is_request_header,
    per_class,
    write_uvarint,
)

__all__ = ["SplitBuffer", "encode", "writer_for"]

#: Record blobs at least this long are not copied into a :class:`SplitBuffer`.
_SPLIT_MIN: Final = 16 * 1024


class SplitBuffer(bytearray):
    """An answer being encoded whose large ``records`` fields are not copied into it.

    A Fetch answer is mostly stored record batches; copying megabytes of them into the
    answer (and growing the buffer for them) cost the broker more than reading them. Each
    blob of at least 16 KiB is noted with its position instead, and :meth:`pieces` hands
    the answer out as a list for ``transport.writelines`` with the blobs as they are.
    """

    def __init__(self, size: int = 0) -> None:
        super().__init__(size)
        #: (position in this buffer, blob) of every record blob left out, in order.
        self.blobs: list[tuple[int, bytes | bytearray | memoryview]] = []

    def total(self) -> int:
        """The answer's length, blobs included."""
        return len(self) + sum(len(blob) for _, blob in self.blobs)

    def pieces(self) -> list[bytes | bytearray | memoryview]:
        """The answer in order: the encoded parts between the blobs, and the blobs."""
        out: list[bytes | bytearray | memoryview] = []
        at = 0
        for position, blob in self.blobs:
            out.append(bytes(self[at:position]))
            out.append(blob)
            at = position
        out.append(bytes(self[at:]))
        return out


def encode(cls: type[Any], value: Any, out: bytearray | None = None) -> bytearray:
    """Append the encoding of ``value`` (a ``cls``) to ``out`` (a new buffer by default)."""
    if out is None:
        out = bytearray()
    writer_for(cls)(out, value)
    return out


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
            out += I32.pack(len(data)) if wide else I16.pack(len(data))
        out += data

    return write


def _records_writer(flexible: bool) -> Writer:
    """Like a ``bytes`` field, but a large blob in a :class:`SplitBuffer` is not copied."""
    copy = _blob_writer(flexible, wide=True)

    def write(out: bytearray, value: bytes | None) -> None:
        if value is None or len(value) < _SPLIT_MIN or type(out) is not SplitBuffer:
            copy(out, value)
            return
        if flexible:
            write_uvarint(out, len(value) + 1)
        else:
            out += I32.pack(len(value))
        out.blobs.append((len(out), value))

    return write


def _primitive_writer(kafka_type: str, flexible: bool) -> Writer:
    match kafka_type:
        case "int8" | "bool":
            return _fixed_writer(I8, int)
        case "int16":
            return _fixed_writer(I16)
        case "uint16":
            return _fixed_writer(U16)
        case "error_code":
            return _fixed_writer(I16, int)
        case "int32":
            return _fixed_writer(I32)
        case "timedelta_i32":
            return _fixed_writer(I32, _ms)
        case "int64":
            return _fixed_writer(I64)
        case "timedelta_i64":
            return _fixed_writer(I64, _ms)
        case "datetime_i64":
            return _fixed_writer(I64, _ms_since_epoch)
        case "float64":
            return _fixed_writer(F64, float)  # type: ignore[arg-type]
        case "uuid":
            return _write_uuid
        case "string":
            return _blob_writer(flexible, wide=False)
        case "bytes":
            return _blob_writer(flexible, wide=True)
        case "records":
            return _records_writer(flexible)
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
            out += I32.pack(len(items))
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


def _field_writer(cls: type[Any], f: Field) -> Writer:
    flexible = bool(cls.__flexible__)
    if is_request_header(cls) and f.name == "client_id":
        return _blob_writer(flexible=False, wide=False)
    if f.entity is not None:
        inner = writer_for(f.entity)
        if f.array:
            return _array_writer(inner, flexible)
        return _nullable_entity_writer(inner) if f.nullable and f.tag is None else inner
    item = _primitive_writer(f.kafka_type, flexible)
    return _array_writer(item, flexible) if f.array else item


_ABSENT: Final = object()


def _getter(cls: type[Any], f: Field) -> Callable[[Any], Any]:
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


@per_class
def writer_for(cls: type[Any]) -> Writer:
    """The compiled writer of one kio class (cached); it takes an instance or a dict."""
    flexible = bool(cls.__flexible__)
    plain: list[tuple[Callable[[Any], Any], Writer]] = []
    tagged: list[tuple[int, Callable[[Any], Any], Writer, Any]] = []
    for f in fields_of(cls):
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
