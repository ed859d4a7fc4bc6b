"""JSON Schema serializer and deserializer pair: the value as JSON text after the wire
header, validated against the schema (``jsonschema``) on the way out and, when asked, in."""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema
import jsonschema.exceptions

from logd.client.serde.registry_client import RegistryClient
from logd.client.serde.strategy import SubjectNameStrategy, topic_name_strategy
from logd.client.serde.wire import SerializationError, pack, unpack

__all__ = ["JsonSchemaDeserializer", "JsonSchemaSerializer"]


def _validate(value: object, schema: Any, schema_id: int) -> None:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.exceptions.ValidationError as exc:
        raise SerializationError(f"value does not fit schema {schema_id}: {exc.message}") from exc


class JsonSchemaSerializer:
    """``serializer(value, topic)`` → Confluent-framed JSON bytes."""

    def __init__(
        self,
        registry: RegistryClient,
        schema: str,
        *,
        subject_name_strategy: SubjectNameStrategy = topic_name_strategy,
        auto_register_schemas: bool = True,
        is_key: bool = False,
    ) -> None:
        self.registry = registry
        self.schema = schema
        self._document = json.loads(schema)
        self.strategy = subject_name_strategy
        self.auto_register = auto_register_schemas
        self.is_key = is_key
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, value: object, topic: str) -> bytes | None:
        if value is None:
            return None
        title = self._document.get("title") if isinstance(self._document, dict) else None
        subject = self.strategy(topic, self.is_key, title)
        with self._lock:
            schema_id = self._ids.get(subject)
        if schema_id is None:
            if self.auto_register:
                schema_id = self.registry.register(subject, self.schema, "JSON")
            else:
                schema_id = int(self.registry.lookup(subject, self.schema, "JSON")["id"])
            with self._lock:
                self._ids[subject] = schema_id
        _validate(value, self._document, schema_id)
        return pack(schema_id, json.dumps(value, separators=(",", ":")).encode())


class JsonSchemaDeserializer:
    """``deserializer(data)`` → the decoded JSON value (validated when ``validate``)."""

    def __init__(self, registry: RegistryClient, *, validate: bool = True) -> None:
        self.registry = registry
        self.validate = validate

    def __call__(self, data: bytes | None) -> object:
        if data is None:
            return None
        schema_id, payload = unpack(data)
        try:
            value = json.loads(payload)
        except ValueError as exc:
            raise SerializationError(f"value is not JSON: {exc}") from exc
        if self.validate:
            found = self.registry.schema(schema_id)
            _validate(value, json.loads(found["schema"]), schema_id)
        return value
