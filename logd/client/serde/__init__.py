"""Schema-registry serializers for logd's client (issue 17): Confluent's wire format.

A value is ``0x00`` (magic), the schema id as 4 bytes big-endian, then the payload (Avro
binary, or JSON text for JSON Schema) — byte for byte what confluent-kafka's serializers
write, so either side can read the other's records.

    registry = RegistryClient("http://127.0.0.1:8081")
    serialize = AvroSerializer(registry, schema_text)
    producer.produce("users", value=serialize(user, "users"))
    deserialize = AvroDeserializer(registry)
    user = deserialize(record.value)

Public API (``logd.client.serde``), beside ``logd.client``: ``from_json``/``jsonable`` turn
plain JSON into what an Avro schema takes and back (``logd produce --value-schema``,
``logd consume``).
"""

from logd.client.serde.avro import AvroDeserializer, AvroSerializer
from logd.client.serde.avro_json import from_json, jsonable
from logd.client.serde.json_schema import JsonSchemaDeserializer, JsonSchemaSerializer
from logd.client.serde.registry_client import RegistryClient, RegistryClientError
from logd.client.serde.strategy import (
    record_name_strategy,
    topic_name_strategy,
    topic_record_name_strategy,
)
from logd.client.serde.wire import MAGIC, SerializationError, looks_registered, pack, unpack

__all__ = [
    "MAGIC",
    "AvroDeserializer",
    "AvroSerializer",
    "JsonSchemaDeserializer",
    "JsonSchemaSerializer",
    "RegistryClient",
    "RegistryClientError",
    "SerializationError",
    "from_json",
    "jsonable",
    "looks_registered",
    "pack",
    "record_name_strategy",
    "topic_name_strategy",
    "topic_record_name_strategy",
    "unpack",
]
