"""Protobuf payloads of a registry schema: Confluent's message-index prefix, and the
message classes a schema's descriptors give, for reading (and writing) messages without
generated code.

A payload framed by the registry's serializers is the message-index list (which message of
the file: ``[0]``, written as the single byte 0) then the message's binary encoding. The
schema (parsed by :mod:`logd.registry`, references resolved) and each schema it imports
become ``FileDescriptorProto``s (:mod:`.protobuf_descriptor`, the same descriptors the
registry serves with ``?format=serialized``), each named by the import path the referrer
uses; they go into a private ``DescriptorPool`` (well-known types copied from protobuf's
own), and ``google.protobuf``'s message factory makes the classes. Files in editions syntax
have no descriptor here.

Shared by the REST proxy's ``protobuf`` embedded format and the console's message browser
(front ends may not import each other; this is the schema domain both use). Pure; a
:class:`ProtobufMessages` is immutable once made (its class cache aside) and may be shared.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import (  # type: ignore[import-untyped]  # noqa: F401 (well-known files)
    any_pb2,
    api_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    source_context_pb2,
    struct_pb2,
    timestamp_pb2,
    type_pb2,
    wrappers_pb2,
)
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.registry.protobuf_descriptor import file_descriptor
from logd.registry.protobuf_schema import ProtobufSchema

__all__ = ["ProtobufMessages", "ProtobufPayloadError", "read_indexes", "write_indexes"]

_WELL_KNOWN: Final = "google/protobuf/"
_MAIN: Final = "logd_schema.proto"
#: Message indexes: at most this many (nesting depth), each a varint of at most 5 bytes.
_MAX_INDEXES: Final = 64


class ProtobufPayloadError(ValueError):
    """Bytes that are not a message of the schema (or a schema with no message)."""


def _zigzag_varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_indexes(indexes: list[int]) -> bytes:
    """Confluent's message-index prefix; ``[0]`` is the single byte 0."""
    if indexes == [0]:
        return b"\x00"
    return b"".join(_zigzag_varint(i) for i in (len(indexes), *indexes))


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 28:
            raise ProtobufPayloadError("the bytes have no Protobuf message index")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), at


def read_indexes(data: bytes) -> tuple[list[int], int]:
    """(message indexes, where the message starts) of a payload."""
    count, at = _read_varint(data, 0)
    if count == 0:
        return [0], at
    if not 0 < count <= _MAX_INDEXES:
        raise ProtobufPayloadError(f"the bytes name {count} Protobuf message indexes")
    indexes = []
    for _ in range(count):
        index, at = _read_varint(data, at)
        indexes.append(index)
    return indexes, at


def _add_well_known(pool: Any, name: str) -> None:
    known = descriptor_pool.Default().FindFileByName(name)  # KeyError: not one
    proto = descriptor_pb2.FileDescriptorProto.FromString(known.serialized_pb)
    _add(pool, proto)


def _add(pool: Any, proto: Any) -> None:
    for imported in proto.dependency:
        if imported.startswith(_WELL_KNOWN):
            try:
                pool.FindFileByName(imported)
            except KeyError:
                _add_well_known(pool, imported)
    pool.Add(proto)


def _add_schema(pool: Any, schema: ProtobufSchema, name: str, added: set[str]) -> Any:
    """Adds ``schema`` under ``name``, its imports first; its ``FileDescriptorProto``."""
    for dep in schema.dependencies:
        if dep.reference.name not in added:
            assert isinstance(dep.schema, ProtobufSchema)
            _add_schema(pool, dep.schema, dep.reference.name, added)
    added.add(name)
    proto = file_descriptor(schema.file, name, schema.descriptors.kinds)
    _add(pool, proto)
    return proto


class ProtobufMessages:
    """The message classes of one schema; ``decode`` reads a framed payload."""

    def __init__(self, schema: ProtobufSchema, name: str = _MAIN) -> None:
        pool = descriptor_pool.DescriptorPool()
        proto = _add_schema(pool, schema, name, set())
        if not proto.message_type:
            raise ProtobufPayloadError("the Protobuf schema defines no message")
        prefix = f"{proto.package}." if proto.package else ""
        #: the file's top-level messages in declaration order (message index 0 first)
        self._messages = [pool.FindMessageTypeByName(prefix + m.name) for m in proto.message_type]
        self._classes: dict[tuple[int, ...], Any] = {}

    def message_class(self, indexes: list[int]) -> Any:
        """The class of the message ``indexes`` name (ProtobufPayloadError: none)."""
        key = tuple(indexes)
        if key not in self._classes:
            try:
                if any(i < 0 for i in indexes):
                    raise IndexError(indexes)
                descriptor = self._messages[indexes[0]]
                for index in indexes[1:]:
                    descriptor = descriptor.nested_types[index]
            except IndexError:
                raise ProtobufPayloadError(f"no Protobuf message at index {indexes}") from None
            self._classes[key] = message_factory.GetMessageClass(descriptor)
        return self._classes[key]

    def decode(self, payload: bytes) -> Any:
        """A framed payload (message indexes, then the message) as Protobuf's JSON mapping
        (field names as declared, fields without presence included)."""
        indexes, at = read_indexes(payload)
        try:
            message = self.message_class(indexes).FromString(payload[at:])
        except DecodeError as exc:
            raise ProtobufPayloadError(
                f"the bytes are not Protobuf of their schema: {exc}"
            ) from None
        return json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
