"""A second real client against the registry: ``python-schema-registry-client`` (its
synchronous client and its Avro and JSON message serializers), and its bytes read by
logd's deserializers and the other way round."""

from __future__ import annotations

import json

from schema_registry.client import SchemaRegistryClient, schema
from schema_registry.serializers import AvroMessageSerializer, JsonMessageSerializer

from logd.client.serde import AvroDeserializer, AvroSerializer, RegistryClient

USER_V1 = {"type": "record", "name": "User", "namespace": "t",
           "fields": [{"name": "name", "type": "string"}]}  # fmt: skip
USER_V2 = {"type": "record", "name": "User", "namespace": "t",
           "fields": [{"name": "name", "type": "string"},
                      {"name": "age", "type": "int", "default": 0}]}  # fmt: skip
USER_BAD = {"type": "record", "name": "User", "namespace": "t",
            "fields": [{"name": "email", "type": "string"}]}  # fmt: skip


def test_register_evolve_refuse_and_delete(registry: str) -> None:
    client = SchemaRegistryClient(url=registry)
    v1, v2 = schema.AvroSchema(USER_V1), schema.AvroSchema(USER_V2)
    first = client.register("users-value", v1)
    assert client.register("users-value", v1) == first
    assert client.test_compatibility("users-value", v2) is True
    assert client.test_compatibility("users-value", schema.AvroSchema(USER_BAD)) is False
    second = client.register("users-value", v2)
    assert second != first
    assert client.get_subjects() == ["users-value"]
    assert client.get_versions("users-value") == [1, 2]
    latest = client.get_schema("users-value")
    assert latest is not None and (latest.schema_id, latest.version) == (second, 2)
    assert client.get_by_id(first) == v1
    found = client.check_version("users-value", v1)
    assert found is not None and (found.schema_id, found.version) == (first, 1)
    assert client.update_compatibility("FULL", "users-value") is True
    assert client.get_compatibility("users-value") == "FULL"
    assert client.delete_version("users-value", 2) == 2
    assert client.delete_subject("users-value") == [1]
    assert client.get_subjects() == []


def test_json_schema_through_its_client(registry: str) -> None:
    client = SchemaRegistryClient(url=registry)
    order = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    sid = client.register("orders-value", schema.JsonSchema(order), schema_type="JSON")
    got = client.get_by_id(sid)
    assert isinstance(got, schema.JsonSchema) and got.raw_schema == order
    serializer = JsonMessageSerializer(client)
    framed = serializer.encode_record_with_schema("orders-value", schema.JsonSchema(order),
                                                  {"id": 7})  # fmt: skip
    assert framed[:5] == b"\0" + sid.to_bytes(4, "big")
    assert serializer.decode_message(framed) == {"id": 7}


def test_its_avro_bytes_and_ours_read_each_other(registry: str) -> None:
    client = SchemaRegistryClient(url=registry)
    theirs = AvroMessageSerializer(client)
    ours = RegistryClient(registry)
    framed = theirs.encode_record_with_schema("people-value", schema.AvroSchema(USER_V1),
                                              {"name": "ada"})  # fmt: skip
    assert AvroDeserializer(ours)(framed) == {"name": "ada"}
    written = AvroSerializer(ours, json.dumps(USER_V1))({"name": "bob"}, "people")
    assert written is not None and written[:5] == framed[:5]  # the same subject, the same id
    assert theirs.decode_message(written) == {"name": "bob"}
