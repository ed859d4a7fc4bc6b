"""Request and response headers (Kafka's RequestHeader.json / ResponseHeader.json).

Request header v1: api key, api version, correlation id, client id (a nullable *legacy*
string, even in v2); v2 adds tagged fields. Which one a request carries depends on whether
its API's version is flexible (KIP-482) — a property of the message schema, read from kio's
classes. Response header v0 is the correlation id; v1 adds tagged fields — except that the
ApiVersions response always has header v0, whatever its version (KIP-511: a client that does
not yet know the broker's versions must still be able to read it).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from typing import Final

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.schema.index import api_key_map, schema_name_map

from logd.frontends.kafka.schema_codec import SchemaDecodeError, read_uvarint

__all__ = [
    "API_VERSIONS_KEY",
    "RequestHeader",
    "encode_response_header",
    "parse_request_header",
    "request_is_flexible",
    "response_is_flexible",
]

API_VERSIONS_KEY: Final = 18
_FIXED: Final = struct.Struct(">hhi")
_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    #: Where the request body starts in the frame.
    body_offset: int


@functools.cache
def _known_versions(api_key: int) -> tuple[int, int] | None:
    try:
        name = api_key_map[api_key]
    except KeyError:
        return None
    versions = schema_name_map[name]
    return min(versions), max(versions)


@functools.cache
def request_is_flexible(api_key: int, api_version: int) -> bool:
    """Whether ``api_key`` at ``api_version`` uses flexible encodings (header v2).

    A version above the newest schema we know is taken as flexible when the newest is: every
    API that became flexible stayed flexible (KIP-482), so a future client's ApiVersions v5
    still parses.
    """
    known = _known_versions(api_key)
    if known is None:
        raise SchemaDecodeError(f"unknown API key {api_key}")
    low, high = known
    version = min(max(api_version, low), high)
    try:
        return bool(load_request_schema(api_key, version).__flexible__)
    except (UnknownAPIKey, UnknownEntity):
        raise SchemaDecodeError(f"unknown API key {api_key} version {api_version}") from None


@functools.cache
def response_is_flexible(api_key: int, api_version: int) -> bool:
    """Whether the response needs header v1 (never for ApiVersions, KIP-511)."""
    if api_key == API_VERSIONS_KEY:
        return False
    return bool(load_response_schema(api_key, api_version).__flexible__)


def peek_correlation_id(frame: bytes) -> int | None:
    """The correlation id of a frame too broken to parse, for the log line."""
    if len(frame) < 8:
        return None
    return int(_I32.unpack_from(frame, 4)[0])


def parse_request_header(frame: bytes | memoryview) -> RequestHeader:
    """Parse the header; raises :class:`SchemaDecodeError` (the connection is then closed,
    as Kafka closes it for a request it cannot parse) for an unknown API key or bad bytes.
    """
    if len(frame) < _FIXED.size + 2:
        raise SchemaDecodeError("request shorter than its header")
    api_key, api_version, correlation_id = _FIXED.unpack_from(frame, 0)
    pos = _FIXED.size
    (n,) = _I16.unpack_from(frame, pos)
    pos += 2
    client_id: str | None = None
    if n >= 0:
        if pos + n > len(frame):
            raise SchemaDecodeError("client id runs past the end of the request")
        try:
            client_id = str(frame[pos : pos + n], "utf-8")
        except UnicodeDecodeError:
            raise SchemaDecodeError("client id is not UTF-8") from None
        pos += n
    elif n != -1:
        raise SchemaDecodeError(f"bad client id length {n}")
    if request_is_flexible(api_key, api_version):
        pos = _skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def _skip_tagged_fields(frame: bytes | memoryview, pos: int) -> int:
    """The header's tagged fields: none is defined for requests we serve; skip them all."""
    count, pos = read_uvarint(frame, pos)
    if count > (len(frame) - pos) // 2:
        raise SchemaDecodeError("tagged fields run past the end of the header")
    for _ in range(count):
        _tag, pos = read_uvarint(frame, pos)
        size, pos = read_uvarint(frame, pos)
        pos += size
        if pos > len(frame):
            raise SchemaDecodeError("tagged field runs past the end of the header")
    return pos


def encode_response_header(correlation_id: int, flexible: bool) -> bytes:
    """Response header v0 (correlation id) or v1 (and no tagged fields)."""
    head = _I32.pack(correlation_id)
    return head + b"\x00" if flexible else head
