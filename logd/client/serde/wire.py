"""Confluent's wire format: magic byte 0, a 4-byte big-endian schema id, the payload."""

from __future__ import annotations

import struct

from logd.errors import InvalidRecordError

__all__ = ["HEADER_SIZE", "MAGIC", "SerializationError", "looks_registered", "pack", "unpack"]

MAGIC = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


class SerializationError(InvalidRecordError):
    """A value that cannot be written with, or read as, its schema."""


def pack(schema_id: int, payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + payload


def unpack(data: bytes | None) -> tuple[int, bytes]:
    """(schema id, payload); SerializationError when ``data`` is not in the format."""
    if data is None or len(data) < HEADER_SIZE:
        raise SerializationError("not a schema-registry value: shorter than 5 bytes")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SerializationError(f"not a schema-registry value: magic byte {magic}, not 0")
    return schema_id, data[HEADER_SIZE:]


def looks_registered(data: bytes | None) -> bool:
    """Whether ``data`` starts like a registry-encoded value (magic 0, then an id)."""
    return data is not None and len(data) >= HEADER_SIZE and data[0] == MAGIC
