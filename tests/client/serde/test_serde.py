"""logd's serializers against a real registry, and byte-for-byte against confluent-kafka's."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from logd.client.serde import (
    AvroDeserializer,
    AvroSerializer,
    JsonSchemaDeserializer,
    JsonSchemaSerializer,
    RegistryClient,
    RegistryClientError,
    SerializationError,
    record_name_strategy,
    topic_record_name_strategy,
    unpack,
)

USER = json.dumps({"type": "record", "name": "User", "namespace": "ex", "fields": [
    {"name": "name", "type": "string"}, {"name": "age", "type": "int"}]})  # fmt: skip
USER2 = json.dumps({"type": "record", "name": "User", "namespace": "ex", "fields": [
    {"name": "name", "type": "string"}, {"name": "age", "type": "int"},
    {"name": "email", "type": ["null", "string"], "default": None}]})  # fmt: skip


def test_avro_round_trip_and_cache(registry: str) -> None:
    client = RegistryClient(registry)
    ser, de = AvroSerializer(client, USER), AvroDeserializer(client)
    data = ser({"name": "ada", "age": 36}, "users")
    assert data is not None and data[0] == 0
    schema_id, _ = unpack(data)
    assert client.latest("users-value")["id"] == schema_id
    assert de(data) == {"name": "ada", "age": 36}
    assert ser({"name": "bob", "age": 1}, "users") is not None  # cached: no new version
    assert [v["version"] for v in [client.latest("users-value")]] == [1]


def test_strategies_and_use_latest(registry: str) -> None:
    client = RegistryClient(registry)
    AvroSerializer(client, USER, subject_name_strategy=record_name_strategy)(
        {"name": "a", "age": 1}, "t"
    )
    AvroSerializer(client, USER, subject_name_strategy=topic_record_name_strategy)(
        {"name": "a", "age": 1}, "t"
    )
    subjects = client.request("GET", "/subjects")
    assert subjects == ["ex.User", "t-ex.User"]
    client.register("t-value", USER2)
    latest = AvroSerializer(client, use_latest_version=True)
    data = latest({"name": "a", "age": 1, "email": "a@x"}, "t")
    # an old reader resolves the new writer's data
    assert AvroDeserializer(client, reader_schema=USER)(data) == {"name": "a", "age": 1}


def test_no_auto_register_needs_the_schema_there(registry: str) -> None:
    client = RegistryClient(registry)
    ser = AvroSerializer(client, USER, auto_register_schemas=False)
    with pytest.raises(RegistryClientError) as exc:
        ser({"name": "a", "age": 1}, "fresh")
    assert exc.value.error_code == 40401


def test_bad_values_and_bytes_are_typed_errors(registry: str) -> None:
    client = RegistryClient(registry)
    with pytest.raises(SerializationError):
        AvroSerializer(client, USER)({"name": 5}, "users")
    de = AvroDeserializer(client)
    for bad in (b"", b"\x01\x00\x00\x00\x01x", b"\x00\x00"):
        with pytest.raises(SerializationError):
            de(bad)
    with pytest.raises(RegistryClientError) as exc:
        de(b"\x00\x00\x00\x03\xe7abc")
    assert exc.value.error_code == 40403


def test_confluent_and_logd_read_each_others_bytes(registry: str) -> None:
    theirs = SchemaRegistryClient({"url": registry})
    ctx = SerializationContext("mix", MessageField.VALUE)
    c_ser = CAvroSerializer(theirs, USER)
    c_de = CAvroDeserializer(theirs)
    ours = RegistryClient(registry)
    value = {"name": "eve", "age": 7}
    assert AvroDeserializer(ours)(c_ser(value, ctx)) == value
    assert c_de(AvroSerializer(ours, USER)(value, "mix"), ctx) == value
    assert AvroSerializer(ours, USER)(value, "mix") == c_ser(value, ctx)  # same bytes


def test_json_schema_pair(registry: str) -> None:
    client = RegistryClient(registry)
    schema = json.dumps(
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    )
    ser, de = JsonSchemaSerializer(client, schema), JsonSchemaDeserializer(client)
    assert de(ser({"n": 3}, "j")) == {"n": 3}
    with pytest.raises(SerializationError):
        ser({"n": "three"}, "j")
    assert client.request("GET", "/schemas/ids/1")["schemaType"] == "JSON"
