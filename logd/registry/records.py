"""The `_schemas` topic's record format: Confluent's and Karapace's keys and values.

Keys are JSON objects ``{keytype, subject, version, magic}`` (fields in that order, as
Confluent writes them, so compaction sees one key per (subject, version) whoever wrote it);
values are JSON objects, ``null`` (a tombstone) for a hard delete or a config removal:

* SCHEMA: ``{subject, version, id, schema, schemaType?, references?, deleted}``
* CONFIG (subject or global ``null``): ``{compatibilityLevel}``
* MODE: ``{mode}``
* DELETE_SUBJECT: ``{subject, version}`` — every version up to ``version`` soft-deleted
* NOOP: ignored by Confluent and Karapace.  logd's writer puts ``{"maxId": N}`` under the
  key ``{"keytype":"NOOP","magic":0}`` before a hard delete, so the highest id ever given
  out survives compaction and is never given again; and, on becoming the writer,
  ``{"nodeId": N, "url": U}`` under ``{"keytype":"NOOP","subject":"__logd_writer",…}``, so
  the other brokers know where to forward writes (and the writer knows its state holds
  everything written before it).

Pure: bytes in, typed records out (and back).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from logd.registry.model import Reference, SchemaType

__all__ = [
    "WRITER_SUBJECT",
    "KeyType",
    "RecordKey",
    "SchemaValue",
    "config_key",
    "decode_key",
    "decode_value",
    "delete_subject_key",
    "encode",
    "mode_key",
    "noop_key",
    "schema_key",
    "schema_value",
    "writer_key",
]


class KeyType(enum.StrEnum):
    SCHEMA = "SCHEMA"
    CONFIG = "CONFIG"
    MODE = "MODE"
    DELETE_SUBJECT = "DELETE_SUBJECT"
    NOOP = "NOOP"


@dataclasses.dataclass(frozen=True, slots=True)
class RecordKey:
    keytype: KeyType
    subject: str | None = None
    version: int | None = None
    magic: int = 0

    def encode(self) -> bytes:
        obj: dict[str, Any] = {"keytype": self.keytype.value}
        if self.keytype is not KeyType.NOOP or self.subject is not None:
            obj["subject"] = self.subject
        if self.version is not None:
            obj["version"] = self.version
        obj["magic"] = self.magic
        return encode(obj)


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaValue:
    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: SchemaType
    references: tuple[Reference, ...]
    deleted: bool

    def encode(self) -> bytes:
        return encode(schema_value(self))


def encode(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def schema_key(subject: str, version: int) -> RecordKey:
    return RecordKey(KeyType.SCHEMA, subject, version, magic=1)


def config_key(subject: str | None) -> RecordKey:
    return RecordKey(KeyType.CONFIG, subject)


def mode_key(subject: str | None) -> RecordKey:
    return RecordKey(KeyType.MODE, subject)


def delete_subject_key(subject: str) -> RecordKey:
    return RecordKey(KeyType.DELETE_SUBJECT, subject)


def noop_key() -> RecordKey:
    return RecordKey(KeyType.NOOP)


WRITER_SUBJECT = "__logd_writer"


def writer_key() -> RecordKey:
    return RecordKey(KeyType.NOOP, WRITER_SUBJECT)


def schema_value(v: SchemaValue) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "subject": v.subject,
        "version": v.version,
        "id": v.schema_id,
        "schema": v.schema,
    }
    if v.schema_type is not SchemaType.AVRO:
        obj["schemaType"] = v.schema_type.value
    if v.references:
        obj["references"] = [r.to_json() for r in v.references]
    obj["deleted"] = v.deleted
    return obj


def decode_key(raw: bytes | None) -> RecordKey:
    """A key from the topic; ValueError for anything that is not one."""
    obj = _json_object(raw)
    keytype = KeyType(str(obj.get("keytype")))
    subject = obj.get("subject")
    version = obj.get("version")
    if subject is not None and not isinstance(subject, str):
        raise ValueError("subject is not a string")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValueError("version is not an integer")
    magic = obj.get("magic", 0)
    return RecordKey(keytype, subject, version, magic if isinstance(magic, int) else 0)


def decode_value(raw: bytes | None) -> dict[str, Any] | None:
    """A value from the topic (None for a tombstone); ValueError when not a JSON object."""
    if raw is None or raw == b"":
        return None
    return _json_object(raw)


def _json_object(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise ValueError("missing")
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj
