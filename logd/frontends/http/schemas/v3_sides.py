"""A v3 produce's keys and values with schemas (Confluent's v3 records API): a key or value
object whose ``type`` is ``AVRO``, ``JSONSCHEMA`` or ``PROTOBUF``, or absent, takes its
schema from the registry by one of

- ``schema_id``: that schema (its type must be ``type``'s when one is given);
- ``schema``: a schema given by value (``type`` required), registered under the subject;
- ``schema_version``: that version of the subject; nothing of these: the subject's latest.

The subject is ``subject`` when given, else ``subject_name_strategy``'s: ``TOPIC_NAME``
(the default, ``{topic}-key``/``{topic}-value``), ``RECORD_NAME`` (the record's full name)
or ``TOPIC_RECORD_NAME`` (``{topic}-{record}``); the record name is known only from a
schema given by value. ``data`` is encoded into Confluent's wire format by the schema's
codec. The record's report names what was used: ``{"type", "size", "subject",
"schema_id", "schema_version"}`` (null where not known, as for a schema by id).

A failure is the record's own: :class:`SideError` (an unusable field, 400) or the
registry's RestError (422 a value that does not fit, 404 an unknown schema, 408 the
registry away); the stream goes on. What a stream resolved is remembered for that stream
(at most ``_MEMO`` specs), so a streaming client costs the registry one call per spec.

Ownership: one v3 request, on the broker's event loop.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Final, cast

from logd.frontends.http.errors import RestError
from logd.frontends.http.schemas.codecs import Codec, ConversionError, pack, parsed
from logd.frontends.http.schemas.registry_link import FORMATS, RegistryLink
from logd.registry.model import SchemaType

if TYPE_CHECKING:  # the Protobuf parser loads with the first Protobuf schema (``codecs``)
    from logd.registry.protobuf_schema import ProtobufSchema

__all__ = ["PLAIN_TYPES", "Encoded", "SideError", "V3Schemas", "needs_schema"]

PLAIN_TYPES: Final = ("BINARY", "JSON", "STRING")
#: v3 type -> v2 embedded format
_SCHEMA_TYPES: Final = {"AVRO": "avro", "JSONSCHEMA": "jsonschema", "PROTOBUF": "protobuf"}
#: the registry's schemaType -> v3 type
_V3_TYPE: Final = {"AVRO": "AVRO", "JSON": "JSONSCHEMA", "PROTOBUF": "PROTOBUF"}
_STRATEGIES: Final = ("TOPIC_NAME", "RECORD_NAME", "TOPIC_RECORD_NAME")
_MEMO: Final = 64


class SideError(ValueError):
    """A key or value object that cannot be used: its record's report says why (400)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Encoded:
    """A key or value in the wire format, and its part of the delivery report."""

    data: bytes | None
    report: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Resolved:
    kind: str
    subject: str | None
    schema_id: int
    version: int | None
    codec: Codec


def needs_schema(raw: object) -> bool:
    """Does this key or value object take its schema from the registry?"""
    return isinstance(raw, dict) and str(raw.get("type") or "").upper() not in PLAIN_TYPES


def _int(raw: dict[str, Any], name: str, where: str) -> int | None:
    value = raw.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise SideError(f"{where}.{name}: expected a non-negative integer")
    return value


def _record_name(kind: str, text: str) -> str:
    """The full name of the record a schema given by value describes."""
    try:
        schema = parsed(FORMATS[_SCHEMA_TYPES[kind]], text)
    except ConversionError as exc:
        raise RestError(422, 42201, f"Invalid schema: {exc}") from None
    if schema.schema_type is SchemaType.PROTOBUF:
        return cast("ProtobufSchema", schema).message_names[0]
    root = json.loads(schema.text)
    name = str(root.get("title" if kind == "JSONSCHEMA" else "name", "")) if isinstance(
        root, dict) else ""  # fmt: skip
    if kind == "AVRO" and "." not in name and root.get("namespace"):
        name = f"{root['namespace']}.{name}"
    if not name:
        raise SideError("the schema names no record (RECORD_NAME strategies)")
    return name


class V3Schemas:
    """See the module docstring; one per v3 request."""

    def __init__(self, link: RegistryLink, topic: str, auth: str | None) -> None:
        self._link = link
        self._topic = topic
        self._auth = auth
        self._memo: dict[str, _Resolved] = {}

    async def encode(self, raw: dict[str, Any], side: str) -> Encoded:
        spec = json.dumps({k: v for k, v in raw.items() if k != "data"}, sort_keys=True)
        resolved = self._memo.get(spec)
        if resolved is None:
            resolved = await self._resolve(raw, side)
            if len(self._memo) < _MEMO:
                self._memo[spec] = resolved
        data = raw.get("data")
        try:
            payload = None if data is None else pack(resolved.schema_id,
                                                     resolved.codec.encode(data))  # fmt: skip
        except ConversionError as exc:
            raise RestError(422, 42203, f"{side}.data: {exc}") from None
        return Encoded(payload, {
            "type": resolved.kind, "size": len(payload or b""), "subject": resolved.subject,
            "schema_id": resolved.schema_id, "schema_version": resolved.version,
        })  # fmt: skip

    async def _resolve(self, raw: dict[str, Any], side: str) -> _Resolved:
        kind = str(raw["type"]).upper() if raw.get("type") is not None else None
        if kind is not None and kind not in _SCHEMA_TYPES:
            raise SideError(f"{side}.type: {kind!r} is not one of "
                            f"{', '.join((*PLAIN_TYPES, *_SCHEMA_TYPES))}")  # fmt: skip
        fmt = _SCHEMA_TYPES[kind] if kind else None
        schema_id = _int(raw, "schema_id", side)
        if schema_id is not None:
            schema_type, codec = await self._link.by_id(schema_id, self._auth, fmt)
            return _Resolved(_V3_TYPE.get(schema_type, schema_type), None, schema_id, None, codec)
        text = raw.get("schema")
        if text is not None:
            if kind is None or fmt is None or not isinstance(text, str):
                raise SideError(f"{side}.schema: a schema by value is a string with a type")
            subject = self._subject(raw, side, kind, text)
            schema_id, codec = await self._link.register(fmt, subject, text, self._auth)
            return _Resolved(kind, subject, schema_id, None, codec)
        subject = self._subject(raw, side, kind, None)
        found = await self._link.version(subject, _int(raw, "schema_version", side), self._auth)
        found_kind = _V3_TYPE.get(found.schema_type, found.schema_type)
        if kind is not None and kind != found_kind:
            raise RestError(422, 42205, f"{subject} version {found.version} is {found_kind},"
                            f" not {kind}")  # fmt: skip
        return _Resolved(found_kind, subject, found.schema_id, found.version, found.codec)

    def _subject(self, raw: dict[str, Any], side: str, kind: str | None, text: str | None
                 ) -> str:  # fmt: skip
        subject = raw.get("subject")
        if subject is not None:
            if not isinstance(subject, str) or not subject:
                raise SideError(f"{side}.subject: expected a subject name")
            return subject
        strategy = str(raw.get("subject_name_strategy") or "TOPIC_NAME").upper()
        if strategy not in _STRATEGIES:
            raise SideError(f"{side}.subject_name_strategy: {strategy!r} is not one of "
                            f"{', '.join(_STRATEGIES)}")  # fmt: skip
        if strategy == "TOPIC_NAME":
            return f"{self._topic}-{side}"
        if kind is None or text is None:
            raise SideError(f"{side}: {strategy} needs the schema by value (or a subject)")
        name = _record_name(kind, text)
        return name if strategy == "RECORD_NAME" else f"{self._topic}-{name}"
