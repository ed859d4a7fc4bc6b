"""A ``ProduceRequest`` read straight from the received gRPC frame (issue 22: big batches).

The generated ``ProduceRequest.FromString`` copies the ``records`` field into protobuf's
arena, and reading ``request.records`` copies it again into a new ``bytes``: two copies of
every 1 MiB batch on the event loop before the broker makes the one it needs (the writable
buffer Raft stamps). Here the frame is read field by field and ``records`` is a
``memoryview`` of the frame itself -- no copy. protobuf's Python API offers no zero-copy
read of a bytes field, hence these few lines of the wire format (varints and
length-delimited fields); the fuzz test checks them against protobuf's own parser.

Same answers as ``FromString`` for every input: the last occurrence of a field wins; a
field with another wire type than its declared one, and unknown fields (groups included),
are skipped; a truncated or invalid frame (a varint over 10 bytes, field number 0, wire
type 6 or 7, an unmatched group end, a topic that is not UTF-8) is :class:`Malformed`.

Thread-safety: pure functions of their input.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from logd.frontends.grpc.handlers import Malformed

__all__ = ["ProduceFrame", "parse_produce_request"]

_NAME: Final = "logd.v1.ProduceRequest"
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5
_MAX_DEPTH: Final = 64  # nested unknown groups (protobuf's recursion limit is 100)


@dataclasses.dataclass(frozen=True, slots=True)
class ProduceFrame:
    """The fields of a ``ProduceRequest`` the produce stream reads."""

    correlation_id: int = 0
    topic: str = ""
    partition: int = 0
    acks: int = 0
    timeout_ms: int = 0
    records: memoryview | bytes = b""


class _Bad(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    end = len(data)
    while True:
        if pos >= end or shift >= 70:
            raise _Bad("truncated or too long varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _skip(data: bytes, pos: int, wire: int, number: int, depth: int = 0) -> int:
    """The position after a field of ``wire`` type whose tag ended at ``pos``."""
    if wire == _VARINT:
        return _varint(data, pos)[1]
    if wire == _I64:
        pos += 8
    elif wire == _I32:
        pos += 4
    elif wire == _LEN:
        size, pos = _varint(data, pos)
        pos += size
    elif wire == _SGROUP:
        if depth >= _MAX_DEPTH:
            raise _Bad("groups nested too deep")
        while True:
            tag, pos = _varint(data, pos)
            inner, kind = tag >> 3, tag & 7
            if inner == 0 or kind > _I32:
                raise _Bad(f"invalid tag {tag}")
            if kind == _EGROUP:
                if inner != number:
                    raise _Bad("unmatched end of group")
                return pos
            pos = _skip(data, pos, kind, inner, depth + 1)
    else:
        raise _Bad(f"unexpected wire type {wire}")
    if pos > len(data):
        raise _Bad("truncated field")
    return pos


def parse_produce_request(data: bytes) -> ProduceFrame | Malformed:
    """``data`` (one gRPC message) as a :class:`ProduceFrame`, ``records`` a view of it."""
    fields: dict[str, object] = {}
    view = memoryview(data)
    pos, end = 0, len(data)
    try:
        while pos < end:
            tag, pos = _varint(data, pos)
            number, wire = tag >> 3, tag & 7
            if number == 0 or number > 0x1FFFFFFF or wire > _I32 or wire == _EGROUP:
                raise _Bad(f"invalid tag {tag}")
            if wire == _VARINT and 1 <= number <= 5 and number != 2:
                value, pos = _varint(data, pos)
                name = _VARINTS[number]
                fields[name] = value if number == 1 else _int32(value)
            elif wire == _LEN and number in (2, 6):
                size, pos = _varint(data, pos)
                if pos + size > end:
                    raise _Bad("truncated field")
                chunk = view[pos : pos + size]
                pos += size
                if number == 2:
                    fields["topic"] = str(chunk, "utf-8")
                else:
                    fields["records"] = chunk
            else:
                pos = _skip(data, pos, wire, number)
    except _Bad as exc:
        return Malformed(_NAME, str(exc))
    except UnicodeDecodeError:
        return Malformed(_NAME, "the topic is not valid UTF-8")
    return ProduceFrame(**fields)  # type: ignore[arg-type]


_VARINTS: Final = {1: "correlation_id", 3: "partition", 4: "acks", 5: "timeout_ms"}
