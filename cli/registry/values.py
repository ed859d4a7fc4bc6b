"""``logd consume``'s registry decoding: keys and values written in the registry's wire
format (``0``, a 4-byte schema id, the payload) print as JSON, found automatically.

A key or value that starts like one (magic 0, at least 5 bytes) is looked up: its schema
is fetched once per id (cached); Avro payloads are decoded with it, JSON Schema payloads are
JSON already. Anything else prints as it always did: bytes that merely start with 0, an id
the registry does not know, a payload that does not decode, Protobuf (not decoded), or no
registry at all (one note on stderr, then raw bytes; nothing is slower for it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from cli.app import App
from cli.formatting import RecordLike

__all__ = ["DecodedRecord", "RegistryDecoder", "decoding"]


@dataclasses.dataclass(slots=True)
class DecodedRecord:
    """A record whose key and/or value were decoded: ``key``/``value`` hold the JSON text
    (what ``%k``/``%v`` print), ``*_schema_id`` the id (None: not decoded)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    key_schema_id: int | None
    value_schema_id: int | None


class RegistryDecoder:
    """Decodes registry-framed bytes to JSON text; see the module doc."""

    def __init__(self, app: App, args: argparse.Namespace) -> None:
        from cli.registry.common import open_registry
        from logd.client.serde import AvroDeserializer

        self.app = app
        self.registry = open_registry(app, args)
        self.avro = AvroDeserializer(self.registry)
        self._types: dict[int, str | None] = {}  # id -> schema type, None: not decodable
        self._reachable = True

    def __call__(self, data: bytes | None) -> tuple[int, bytes] | None:
        """(schema id, JSON text) or None: print ``data`` as it is."""
        from logd.client.serde import SerializationError, jsonable, looks_registered, unpack

        if not self._reachable or not looks_registered(data):
            return None
        schema_id, payload = unpack(data)
        schema_type = self._type_of(schema_id)
        try:
            if schema_type == "AVRO":
                value: Any = self.avro(data)
            elif schema_type == "JSON":
                value = json.loads(payload)
            else:
                return None
            text = json.dumps(value, default=jsonable, ensure_ascii=False)
        except (SerializationError, ValueError, TypeError):
            return None
        return schema_id, text.encode("utf-8")

    def _type_of(self, schema_id: int) -> str | None:
        from logd.client.serde import RegistryClientError

        if schema_id not in self._types:
            try:
                found = self.registry.schema(schema_id)
                self._types[schema_id] = str(found.get("schemaType", "AVRO"))
            except RegistryClientError as exc:
                if exc.http_status == 0:
                    self._reachable = False
                    self.app.info(f"note: values with a registry id print raw: {exc}")
                self._types[schema_id] = None
        return self._types[schema_id]


def decoding(
    render: Callable[[RecordLike], bytes], decode: RegistryDecoder
) -> Callable[[RecordLike], bytes]:
    """``render`` with registry-framed keys and values decoded first."""

    def render_decoded(record: RecordLike) -> bytes:
        key = decode(record.key)
        value = decode(record.value)
        if key is None and value is None:
            return render(record)
        decoded = DecodedRecord(
            record.topic, record.partition, record.offset, record.timestamp,
            key[1] if key else record.key, value[1] if value else record.value,
            record.headers, key[0] if key else None, value[0] if value else None,
        )  # fmt: skip
        return render(decoded)

    return render_decoded
