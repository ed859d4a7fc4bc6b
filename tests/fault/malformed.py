"""Malformed requests for every RPC, built from the protobuf descriptors. Pure: bytes only.

Hypothesis strategies (:func:`request_bytes`) and fixed hostile cases (:func:`hostile`)
for any request message type, so a service added later (the broker-to-broker service of
issue 5) is covered by the same code:

* random bytes; valid messages with edge values (0, -1, the type's extremes, unknown enum
  values, names that are not topics, 300-character strings) serialized and then mutated
  (bytes flipped, cut, inserted, repeated);
* batch bytes in every ``bytes`` field: valid RecordBatch v2 bytes, mutated ones, a giant
  ``batchLength``, a giant record count or a garbage record area with a correct CRC;
* hostile wire shapes: length prefixes of 2^31 - 1 and 2^64 - 1 with a few bytes behind
  them, an 11-byte varint, 100,000 nested groups, 3,000 nested length-delimited fields, a
  repeated field with 50,000 entries.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from logd.records import build_value_batch
from logd.records.header import rewrite_crc

__all__ = [
    "NAMES",
    "batch_bytes",
    "hostile",
    "hostile_batches",
    "message",
    "request_bytes",
    "varint",
]

_F = FieldDescriptor
#: Names that reach deep (topics and groups that exist), and names that must be refused.
NAMES = ("fuzz", "fuzz", "victim", "g", "", "..", "../etc", "a/b", "x" * 300, "__consumer_offsets")
_INT32 = (0, 1, -1, 2, 7, 2**31 - 1, -(2**31))
_INT64 = (*_INT32, 2**63 - 1, -(2**63))


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of an unsigned 64-bit value."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


# -- batch bytes ---------------------------------------------------------------------------


def _valid_batch(values: list[bytes]) -> bytes:
    return build_value_batch(values, 1_700_000_000_000)


def _with(batch: bytes, fmt: str, position: int, value: int, *, crc: bool) -> bytes:
    buf = bytearray(batch)
    struct.pack_into(fmt, buf, position, value)
    if crc:
        rewrite_crc(buf)
    return bytes(buf)


def batch_bytes() -> st.SearchStrategy[bytes]:
    """What a ``records`` field may carry: valid, mutated or hostile RecordBatch v2 bytes."""
    valid = st.lists(st.binary(max_size=30), min_size=1, max_size=5).map(_valid_batch)
    return st.one_of(
        valid,  # three times: a valid batch gets appended, and damage is seen against it
        valid,
        valid,
        valid.flatmap(_mutations),
        valid.map(lambda b: _with(b, ">i", 8, 2**31 - 1, crc=False)),  # giant batchLength
        valid.map(lambda b: _with(b, ">i", 8, 0, crc=False)),
        valid.map(lambda b: _with(b, ">i", 57, 2**31 - 1, crc=True)),  # giant record count
        valid.map(lambda b: _with(b, ">i", 23, -1, crc=True)),  # negative last offset delta
        valid.map(lambda b: _with(b, ">h", 21, 0x7FFF, crc=True)),  # every attribute bit
        # Records that are garbage behind a correct CRC (storage never decodes them).
        st.binary(min_size=1, max_size=40).map(_garbage_records),
        valid.map(lambda b: b + b),
        st.binary(max_size=80),
    )


def hostile_batches() -> dict[str, bytes]:
    """Named RecordBatch v2 cases for a ``records`` field (deterministic)."""
    valid = _valid_batch([b"a", b"bc", b""])
    return {
        "a valid batch": valid,
        "batchLength 2^31-1": _with(valid, ">i", 8, 2**31 - 1, crc=False),
        "batchLength -1": _with(valid, ">i", 8, -1, crc=False),
        "batchLength 0": _with(valid, ">i", 8, 0, crc=False),
        "record count 2^31-1 (CRC right)": _with(valid, ">i", 57, 2**31 - 1, crc=True),
        "record count -1 (CRC right)": _with(valid, ">i", 57, -1, crc=True),
        "last offset delta 2^31-1 (CRC right)": _with(valid, ">i", 23, 2**31 - 1, crc=True),
        "magic 3": _with(valid, ">b", 16, 3, crc=False),
        "codec 7 (CRC right)": _with(valid, ">h", 21, 7, crc=True),
        "CRC wrong": _with(valid, ">I", 17, 0, crc=False),
        "garbage records (CRC right)": _garbage_records(b"\xff" * 40),
        "giant varint record length (CRC right)": _garbage_records(varint(2**63) * 3),
        "header only": valid[:61],
        "cut in the header": valid[:30],
        "two batches": valid + valid,
        "a batch and garbage": valid + b"\x00" * 13,
        "1 MiB of zeros": bytes(1 << 20),
    }


def _garbage_records(junk: bytes) -> bytes:
    batch = bytearray(_valid_batch([b"x"]))
    del batch[61:]
    batch += junk
    struct.pack_into(">i", batch, 8, len(batch) - 12)
    rewrite_crc(batch)
    return bytes(batch)


# -- mutations -----------------------------------------------------------------------------


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Bytes flipped, cut, inserted or repeated."""
    if not data:
        return st.binary(max_size=16)
    n = len(data)
    position = st.integers(0, n - 1)
    return st.one_of(
        st.tuples(position, st.integers(1, 255)).map(
            lambda t: data[: t[0]] + bytes([data[t[0]] ^ t[1]]) + data[t[0] + 1 :]
        ),
        position.map(lambda i: data[:i]),
        st.tuples(position, st.binary(min_size=1, max_size=8)).map(
            lambda t: data[: t[0]] + t[1] + data[t[0] :]
        ),
        st.integers(2, 5).map(lambda k: data * k),
    )


# -- messages from descriptors ---------------------------------------------------------------


#: Values that pass the first checks, by field name, so cases reach past them (an
#: existing topic and partition, a valid acks) as often as they fail them.
_HINTS: dict[str, st.SearchStrategy[Any]] = {
    "topic": st.sampled_from(("fuzz", "victim")),
    "name": st.sampled_from(("fuzz", "victim", "new-topic")),
    "partition": st.sampled_from((0, 1)),
    "acks": st.sampled_from((-1, 0, 1)),
    "group_id": st.sampled_from(("g", "h")),
    "protocol_type": st.just("consumer"),
    "session_timeout_ms": st.sampled_from((500, 1000)),
}


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    general = _general(field)
    hint = _HINTS.get(field.name)
    return general if hint is None else st.one_of(hint, hint, general)


def _general(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32):
        return st.one_of(st.sampled_from(_INT32), st.integers(-(2**31), 2**31 - 1))
    if t in (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64):
        return st.one_of(st.sampled_from(_INT64), st.integers(-(2**63), 2**63 - 1))
    if t in (_F.TYPE_UINT32, _F.TYPE_FIXED32):
        return st.one_of(st.sampled_from((0, 1, 2**32 - 1)), st.integers(0, 2**32 - 1))
    if t in (_F.TYPE_UINT64, _F.TYPE_FIXED64):
        return st.one_of(st.sampled_from((0, 1, 2**64 - 1)), st.integers(0, 2**64 - 1))
    if t == _F.TYPE_BOOL:
        return st.booleans()
    if t in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return st.floats(width=32 if t == _F.TYPE_FLOAT else 64)
    if t == _F.TYPE_STRING:
        return st.one_of(st.sampled_from(NAMES), st.text(max_size=40))
    if t == _F.TYPE_BYTES:
        return batch_bytes()
    if t == _F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    raise AssertionError(f"no strategy for {field.full_name} (type {t})")


def message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of their fields set to edge values."""
    cls = message_factory.GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == _F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            key = _scalar(field.message_type.fields_by_name["key"])
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type == _F.TYPE_MESSAGE:
                continue  # no map of messages in logd's protos
            fields[field.name] = st.dictionaries(key, _scalar(value_field), max_size=4)
            continue
        if field.type == _F.TYPE_MESSAGE:
            if depth >= 3:
                continue
            one: st.SearchStrategy[Any] = st.deferred(
                lambda f=field: message(f.message_type, depth + 1)  # type: ignore[misc]
            )
        else:
            one = _scalar(field)
        fields[field.name] = st.lists(one, max_size=4) if field.is_repeated else one
    # Hinted fields are always set (their strategies still draw garbage a third of the time).
    required = {name: fields.pop(name) for name in list(fields) if name in _HINTS}
    return st.fixed_dictionaries(required, optional=fields).map(lambda kw: cls(**kw))


def request_bytes(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Request bytes for a method taking ``descriptor``: well-formed, mutated or random."""
    serialized = message(descriptor).map(lambda m: m.SerializeToString())
    return st.one_of(
        serialized,  # twice: most cases parse, and reach the broker's own checks
        serialized,
        serialized.flatmap(_mutations),
        st.binary(max_size=200),
    )


# -- hostile wire shapes -------------------------------------------------------------------


def hostile(descriptor: Descriptor, repeat: int = 5_000) -> dict[str, bytes]:
    """Named fixed cases for a request type (deterministic; see the module doc).

    Repeated fields get ``repeat`` elements: 5,000 in ``make test``; the soak run sends
    50,000, which a broker on a machine loaded twenty-fold may take longer than the
    deadline to answer item by item (it answers, typed, in ~1 s on a quiet one)."""
    cases: dict[str, bytes] = {"empty": b"", "11-byte varint": _tag(1, 0) + b"\xff" * 11}
    for field in descriptor.fields:
        n = field.number
        for name, length in (("2^31-1", 2**31 - 1), ("2^64-1", 2**64 - 1)):
            cases[f"length {name} in field {field.name}"] = _tag(n, 2) + varint(length) + b"abc"
        if field.type == _F.TYPE_ENUM:
            for value in (2**31 - 1, -1, 12345):
                cases[f"enum {field.name}={value}"] = _tag(n, 0) + varint(value)
        if field.is_repeated:
            cases[f"{repeat} x {field.name}"] = _repeated(field, repeat)
    cases["100000 nested groups"] = _tag(1, 3) * 100_000 + _tag(1, 4) * 100_000
    cases["3000 nested fields"] = _nested(_message_field(descriptor), 3_000)
    return cases


def _repeated(field: FieldDescriptor, count: int) -> bytes:
    if field.type == _F.TYPE_MESSAGE:
        one = _tag(field.number, 2) + varint(0)  # an empty element
    elif field.type in (_F.TYPE_STRING, _F.TYPE_BYTES):
        one = _tag(field.number, 2) + varint(1) + b"x"
    else:
        one = _tag(field.number, 0) + varint(1)
    return one * count


def _message_field(descriptor: Descriptor) -> int:
    for field in descriptor.fields:
        if field.type == _F.TYPE_MESSAGE:
            return int(field.number)
    return 1


def _nested(number: int, depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = _tag(number, 2) + varint(len(inner)) + inner
    return inner
