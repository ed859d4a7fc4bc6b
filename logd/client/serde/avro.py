"""Avro serializer and deserializer pair (fastavro for the bytes, the wire format of
:mod:`logd.client.serde.wire`).

Serializer: the schema given (``auto_register_schemas``: registered under the subject the
strategy names, once, cached) or the subject's latest (``use_latest_version``); then
``0 + id + avro``.  Deserializer: the id's schema fetched once and cached; the writer's
schema decodes the payload, into ``reader_schema`` when one is given (Avro resolution).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import fastavro
from fastavro import read as fastavro_read

from logd.client.serde.registry_client import RegistryClient
from logd.client.serde.strategy import SubjectNameStrategy, topic_name_strategy
from logd.client.serde.wire import SerializationError, pack, unpack

__all__ = ["AvroDeserializer", "AvroSerializer"]


def _parse(text: str) -> Any:
    return _parse_json(text, text=True)


def _parse_json(schema: Any, *, text: bool = False) -> Any:
    try:
        return fastavro.parse_schema(json.loads(schema) if text else schema)
    except (ValueError, fastavro.schema.SchemaParseException, TypeError, KeyError) as exc:
        raise SerializationError(f"invalid Avro schema: {exc}") from exc


def _record_name(parsed: Any) -> str | None:
    return parsed.get("name") if isinstance(parsed, dict) else None


class AvroSerializer:
    """``serializer(value, topic)`` → Confluent-framed Avro bytes."""

    def __init__(
        self,
        registry: RegistryClient,
        schema: str | None = None,
        *,
        subject_name_strategy: SubjectNameStrategy = topic_name_strategy,
        auto_register_schemas: bool = True,
        use_latest_version: bool = False,
        normalize_schemas: bool = False,
        is_key: bool = False,
        schema_id: int | None = None,
    ) -> None:
        """``schema_id``: write with that registered schema whatever the subject (no
        registration, no lookup: what ``logd produce --value-schema ID`` does)."""
        if schema_id is not None:
            found = registry.schema(schema_id)
            if found.get("schemaType", "AVRO") != "AVRO":
                raise SerializationError(f"schema {schema_id} is not an Avro schema")
            schema = str(found["schema"])
        if schema is None and not use_latest_version:
            raise ValueError("give a schema, or use_latest_version=True")
        self.registry = registry
        self.schema = schema
        self.strategy = subject_name_strategy
        self.auto_register = auto_register_schemas
        self.use_latest = use_latest_version
        self.normalize = normalize_schemas
        self.is_key = is_key
        self._parsed = _parse(schema) if schema is not None else None
        self._fixed = None if schema_id is None else (schema_id, self._parsed)
        self._by_subject: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    @property
    def parsed_schema(self) -> Any:
        """fastavro's parsed form of the schema given (None with ``use_latest_version``)."""
        return self._parsed

    def _writer(self, topic: str) -> tuple[int, Any]:
        if self._fixed is not None:
            return self._fixed
        subject = self.strategy(topic, self.is_key, _record_name(self._parsed))
        with self._lock:
            known = self._by_subject.get(subject)
        if known is not None:
            return known
        if self.use_latest:
            latest = self.registry.latest(subject)
            known = (int(latest["id"]), _parse(latest["schema"]))
        elif self.auto_register:
            assert self.schema is not None
            sid = self.registry.register(subject, self.schema, normalize=self.normalize)
            known = (sid, self._parsed)
        else:
            assert self.schema is not None
            known = (int(self.registry.lookup(subject, self.schema)["id"]), self._parsed)
        with self._lock:
            self._by_subject[subject] = known
        return known

    def __call__(self, value: object, topic: str) -> bytes | None:
        if value is None:
            return None
        schema_id, parsed = self._writer(topic)
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, parsed, value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(f"value does not fit schema {schema_id}: {exc}") from exc
        return pack(schema_id, out.getvalue())


#: fastavro's compiled reader of one datum, beneath ``schemaless_reader``. Why a private
#: function: ``schemaless_reader`` prepares the schemas' names and its options again on every
#: call, a fifth of the cost of decoding a small record (bench/avro_decode.py); here that is
#: done once per writer schema. fastavro is pinned exactly
#: (requirements/constraints.txt) and tests/client/test_serde_avro_fast.py checks this path
#: against ``schemaless_reader``; without the function, ``schemaless_reader`` is used.
_READ_DATA: Callable[..., Any] | None = getattr(
    getattr(fastavro_read, "_read", None), "_read_data", None
)


class _Reading:
    """One writer schema's decoder, prepared once (see ``_READ_DATA``)."""

    __slots__ = ("named", "reader", "writer")

    def __init__(self, writer: Any, reader: Any) -> None:
        self.named: dict[str, dict[str, Any]] = {"writer": {}, "reader": {}}
        self.writer = fastavro.parse_schema(writer, self.named["writer"])
        self.reader = None
        if reader is not None and reader != writer:
            self.reader = fastavro.parse_schema(reader, self.named["reader"])

    def read(self, payload: bytes) -> Any:
        if _READ_DATA is None:
            return fastavro.schemaless_reader(io.BytesIO(payload), self.writer, self.reader)
        return _READ_DATA(io.BytesIO(payload), self.writer, self.named, self.reader, {})


class AvroDeserializer:
    """``deserializer(data)`` → the decoded value (dicts for records)."""

    def __init__(self, registry: RegistryClient, reader_schema: str | None = None) -> None:
        self.registry = registry
        self._reader = _parse(reader_schema) if reader_schema is not None else None
        #: schema id -> its prepared decoder; read without the lock (a dict lookup is
        #: atomic), written under it
        self._readings: dict[int, _Reading] = {}
        self._lock = threading.Lock()

    def writer_schema(self, schema_id: int) -> Any:
        return self._reading(schema_id).writer

    def _reading(self, schema_id: int) -> _Reading:
        known = self._readings.get(schema_id)
        if known is not None:
            return known
        found = self.registry.schema(schema_id)
        if found.get("schemaType", "AVRO") != "AVRO":
            raise SerializationError(f"schema {schema_id} is not an Avro schema")
        reading = _Reading(_parse(found["schema"]), self._reader)
        with self._lock:
            return self._readings.setdefault(schema_id, reading)

    def __call__(self, data: bytes | None) -> object:
        if data is None:
            return None
        schema_id, payload = unpack(data)
        reading = self._readings.get(schema_id) or self._reading(schema_id)
        try:
            return reading.read(payload)
        except (ValueError, TypeError, EOFError, IndexError, KeyError) as exc:
            raise SerializationError(f"value is not Avro of schema {schema_id}: {exc}") from exc
