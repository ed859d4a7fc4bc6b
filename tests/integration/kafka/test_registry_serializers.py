"""confluent-kafka's schema-registry serializers end to end on one real broker (issue 17):
its ``SchemaRegistryClient`` on the registry listener, its ``Producer`` and ``Consumer`` on
the Kafka listener, and logd's side (``logd consume``, logd's deserializers) reading what
confluent-kafka wrote. Register, evolve compatibly, have an incompatible change refused
with 409 and nothing stored, produce, consume, decode."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

from logd.client.serde import JsonSchemaDeserializer, RegistryClient
from tests.integration.cluster import BrokerProcess
from tests.integration.kafka.conftest import bootstrap
from tests.integration.registry_cli import logd, ok

pytestmark = pytest.mark.integration

USER = {"type": "record", "name": "User", "namespace": "ex", "fields": [
    {"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}  # fmt: skip
#: USER with an optional field: BACKWARD compatible (the reader fills the default).
USER_EMAIL = {**USER, "fields": [*USER["fields"],
              {"name": "email", "type": ["null", "string"], "default": None}]}  # fmt: skip
#: USER with a new field and no default: a BACKWARD reader cannot read the old records.
USER_PHONE = {**USER, "fields": [*USER["fields"], {"name": "phone", "type": "string"}]}
ORDER = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
    "required": ["id", "item"],
    "additionalProperties": False,
}
MONEY_PROTO = """syntax = "proto3";
package common;
message Money { string currency = 1; int64 units = 2; }
"""
ORDER_PROTO = """syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  common.Money total = 2;
  google.protobuf.Timestamp placed_at = 3;
  repeated string items = 4;
  map<string, int32> counts = 5;
  oneof via { string web = 6; string shop = 7; }
}
"""


def _url(broker: BrokerProcess) -> str:
    return f"http://{broker.bound()['registry']}"


@pytest.fixture(scope="module")
def registry(kafka_broker: BrokerProcess) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": _url(kafka_broker)})


def _produce(kafka: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": kafka, "acks": "all"})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0


def _consume(kafka: str, topic: str, n: int) -> Iterator[bytes]:
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"g-{topic}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        deadline = time.monotonic() + 30
        got = 0
        while got < n and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and message.error() is None:
                got += 1
                yield message.value()
        assert got == n, f"{got} of {n} records within 30 s"
    finally:
        consumer.close()


def _serialize(
    serializer: Callable[[Any, SerializationContext], bytes | None], topic: str, value: Any
) -> bytes:
    data = serializer(value, SerializationContext(topic, MessageField.VALUE))
    assert data is not None
    return data


def test_avro_serializer_round_trips_through_the_kafka_listener(
    kafka_broker: BrokerProcess, registry: SchemaRegistryClient
) -> None:
    kafka, topic = bootstrap(kafka_broker), "users-avro"
    v1 = AvroSerializer(registry, json.dumps(USER))
    v2 = AvroSerializer(registry, json.dumps(USER_EMAIL))
    _produce(kafka, topic, [
        _serialize(v1, topic, {"name": "ada", "age": 36}),
        _serialize(v2, topic, {"name": "bob", "age": 7, "email": "bob@example.com"}),
    ])  # fmt: skip
    subject = f"{topic}-value"
    assert registry.get_versions(subject) == [1, 2]
    # Incompatible (BACKWARD, the default): refused with 409, nothing stored.
    with pytest.raises(SchemaRegistryError) as refused:
        registry.register_schema(subject, Schema(json.dumps(USER_PHONE), "AVRO"))
    assert refused.value.http_status_code == 409 and refused.value.error_code == 409
    assert registry.get_versions(subject) == [1, 2]
    with pytest.raises(SchemaRegistryError):
        _serialize(AvroSerializer(registry, json.dumps(USER_PHONE)), topic, {})

    # confluent-kafka reads both with the newest schema (the old record gets the default).
    read = AvroDeserializer(registry, json.dumps(USER_EMAIL))
    context = SerializationContext(topic, MessageField.VALUE)
    assert [read(v, context) for v in list(_consume(kafka, topic, 2))] == [
        {"name": "ada", "age": 36, "email": None},
        {"name": "bob", "age": 7, "email": "bob@example.com"},
    ]
    # logd consume decodes each with its writer's schema, found by the id in the record.
    out = ok(logd(kafka_broker, "consume", topic, "-o", "start:end"))
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in records] == [
        {"name": "ada", "age": 36},
        {"name": "bob", "age": 7, "email": "bob@example.com"},
    ]
    ids = [registry.get_version(subject, v).schema_id for v in (1, 2)]
    assert [r["value_schema_id"] for r in records] == ids


def test_json_schema_serializer_round_trips_through_the_kafka_listener(
    kafka_broker: BrokerProcess, registry: SchemaRegistryClient
) -> None:
    kafka, topic = bootstrap(kafka_broker), "orders-json"
    write = JSONSerializer(json.dumps(ORDER), registry)
    orders = [{"id": 1, "item": "tea"}, {"id": 2, "item": "cake"}]
    _produce(kafka, topic, [_serialize(write, topic, order) for order in orders])
    registered = registry.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "JSON" and registered.version == 1
    # A value the schema refuses is not written.
    with pytest.raises(Exception, match="item"):
        _serialize(write, topic, {"id": 3})

    values = list(_consume(kafka, topic, 2))
    read = JSONDeserializer(json.dumps(ORDER), schema_registry_client=registry)
    assert [read(v, SerializationContext(topic, MessageField.VALUE)) for v in values] == orders
    ours = JsonSchemaDeserializer(RegistryClient(_url(kafka_broker)))
    assert [ours(v) for v in values] == orders


def _order_class(tmp_path: Path) -> Any:
    """shop.Order as a message class, compiled by protoc (as a user's _pb2 would be)."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "money.proto").write_text(MONEY_PROTO)
    (tmp_path / "order.proto").write_text(ORDER_PROTO)
    include = Path(protoc.__file__).parent / "_proto"
    out = tmp_path / "set.pb"
    argv = ["protoc", f"-I{tmp_path}", f"-I{include}", "--include_imports",
            f"--descriptor_set_out={out}", "order.proto"]  # fmt: skip
    assert protoc.main(argv) == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def test_protobuf_serializer_round_trips_through_the_kafka_listener(
    kafka_broker: BrokerProcess, registry: SchemaRegistryClient, tmp_path: Path
) -> None:
    """confluent-kafka registers a Protobuf schema (and its import, as a reference) as the
    base64 of a FileDescriptorProto and reads them back with ?format=serialized."""
    kafka, topic = bootstrap(kafka_broker), "orders-proto"
    order_class = _order_class(tmp_path)
    write = ProtobufSerializer(order_class, registry, {"use.deprecated.format": False})
    orders = [order_class(id=1, items=["tea"], web="w"), order_class(id=2, shop="s")]
    orders[0].total.currency, orders[0].total.units = "EUR", 12
    orders[0].placed_at.seconds = 1_700_000_000
    orders[1].counts["cake"] = 3
    _produce(kafka, topic, [_serialize(write, topic, order) for order in orders])

    # Stored as .proto text, the import a reference to the subject confluent-kafka chose.
    money = registry.get_latest_version("common/money.proto")
    assert "message Money" in money.schema.schema_str
    order = registry.get_latest_version(f"{topic}-value")
    assert order.schema.schema_type == "PROTOBUF" and "message Order" in order.schema.schema_str
    assert [(r.name, r.subject, r.version) for r in order.schema.references] == [
        ("common/money.proto", "common/money.proto", money.version)
    ]
    # Registering the same again (as text now) is the same id; a changed field type is not.
    again = registry.register_schema(f"{topic}-value", order.schema)
    assert again == order.schema_id
    changed = Schema(
        order.schema.schema_str.replace("int64 id = 1", "string id = 1"),
        "PROTOBUF",
        order.schema.references,
    )
    with pytest.raises(SchemaRegistryError) as refused:
        registry.register_schema(f"{topic}-value", changed)
    assert refused.value.http_status_code == 409

    # A consumer's own client (this one's cache holds the text forms it registered).
    consumer_registry = SchemaRegistryClient({"url": _url(kafka_broker)})
    read = ProtobufDeserializer(
        order_class, {"use.deprecated.format": False}, schema_registry_client=consumer_registry
    )
    context = SerializationContext(topic, MessageField.VALUE)
    assert [read(v, context) for v in list(_consume(kafka, topic, 2))] == orders
