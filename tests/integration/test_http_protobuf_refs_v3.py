"""The protobuf embedded format, schemas with references and schema'd v3 produce on a real
broker, checked with confluent-kafka's own deserializers (Protobuf, Avro, JSON Schema)
reading the stored bytes, and with REST consumer instances reading them back:

- v2 protobuf by value (registered under {topic}-value) and by the id of a schema that
  imports another (a reference registered with confluent-kafka's SchemaRegistryClient);
- v3 records by schema id (Avro with a named-type reference), by the subject's latest
  version (JSON Schema with a $ref), by version, by value with a type (curl), and per-record
  refusals in one stream that goes on (a value that does not fit, an unknown id)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from logd.client import Consumer, TopicPartition
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import V2, create_topic, url_of
from tests.protoc_support import compiled_class

pytestmark = pytest.mark.integration

PROTOBUF = "application/vnd.kafka.protobuf.v2+json"
MONEY = """syntax = "proto3";
package common;
message Money { string currency = 1; int64 units = 2; }
"""
ORDER = """syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  common.Money total = 2;
  google.protobuf.Timestamp placed_at = 3;
  repeated string items = 4;
}
"""
READING = """syntax = "proto3";
package iot;
message Reading { string sensor = 1; double temp = 2; }
"""
CUSTOMER = {"type": "record", "name": "Customer", "namespace": "shop",
            "fields": [{"name": "name", "type": "string"}]}  # fmt: skip
INVOICE = {"type": "record", "name": "Invoice", "namespace": "shop",
           "fields": [{"name": "who", "type": "shop.Customer"},
                      {"name": "cents", "type": "long"}]}  # fmt: skip
ADDRESS = {"type": "object", "properties": {"zip": {"type": "string"}}, "required": ["zip"]}
PERSON = {"type": "object", "properties": {"home": {"$ref": "address.json"}},
          "required": ["home"]}  # fmt: skip


@pytest.fixture(scope="module")
def rest(shared_broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url_of(shared_broker), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def registry(shared_broker: BrokerProcess) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": f"http://{shared_broker.bound()['registry']}"})


def _reader(broker: BrokerProcess) -> SchemaRegistryClient:
    """A consumer's own registry client (one that registered holds the text it sent in its
    cache, where ProtobufDeserializer expects the serialized form)."""
    return SchemaRegistryClient({"url": f"http://{broker.bound()['registry']}"})


def _raw(broker: BrokerProcess, topic: str, count: int) -> list[bytes]:
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = consumer.consume(count, timeout=20)
    assert len(records) == count
    return [r.value for r in records]  # type: ignore[attr-defined]


def _instance_reads(rest: httpx.Client, topic: str, fmt: str, count: int) -> list[Any]:
    group = f"g-{topic}"
    config = {"name": "c", "format": fmt, "auto.offset.reset": "earliest"}
    assert rest.post(f"/consumers/{group}", headers={"Content-Type": V2},
                     json=config).status_code == 200  # fmt: skip
    base = f"/consumers/{group}/instances/c"
    try:
        rest.post(f"{base}/assignments", headers={"Content-Type": V2},
                  json={"partitions": [{"topic": topic, "partition": 0}]})  # fmt: skip
        got: list[Any] = []
        for _ in range(20):
            accept = {"Accept": f"application/vnd.kafka.{fmt}.v2+json"}
            answer = rest.get(f"{base}/records?timeout=1000", headers=accept)
            assert answer.status_code == 200, answer.text
            got += [r["value"] for r in answer.json()]
            if len(got) >= count:
                return got
        raise AssertionError(f"only {got}")
    finally:
        rest.delete(base)


def _read(deserializer: Any, topic: str, values: list[bytes]) -> list[Any]:
    context = SerializationContext(topic, MessageField.VALUE)
    return [deserializer(v, context) for v in values]


def test_protobuf_by_value_and_by_id_with_an_import(
    rest: httpx.Client, shared_broker: BrokerProcess, registry: SchemaRegistryClient,
    tmp_path: Path,
) -> None:  # fmt: skip
    create_topic(shared_broker, "pb-readings", 1)
    by_value = rest.post(
        "/topics/pb-readings",
        headers={"Content-Type": PROTOBUF},
        json={"value_schema": READING, "records": [{"value": {"sensor": "s1", "temp": 21.5}}]},
    )
    assert by_value.status_code == 200, by_value.text
    reading_id = by_value.json()["value_schema_id"]
    assert registry.get_latest_version("pb-readings-value").schema_id == reading_id
    reading = compiled_class(tmp_path / "r", {"reading.proto": READING}, "reading.proto",
                             "iot.Reading")  # fmt: skip
    read = ProtobufDeserializer(reading, {"use.deprecated.format": False},
                                schema_registry_client=registry)  # fmt: skip
    assert _read(read, "pb-readings", _raw(shared_broker, "pb-readings", 1)) == [
        reading(sensor="s1", temp=21.5)
    ]
    assert _instance_reads(rest, "pb-readings", "protobuf", 1) == [{"sensor": "s1", "temp": 21.5}]

    # A schema importing another: registered by a Kafka client's registry client.
    money = registry.register_schema("common/money.proto", Schema(MONEY, "PROTOBUF"))
    version = registry.lookup_schema("common/money.proto", Schema(MONEY, "PROTOBUF")).version
    order_id = registry.register_schema(
        "pb-orders-value",
        Schema(
            ORDER,
            "PROTOBUF",
            [SchemaReference("common/money.proto", "common/money.proto", version)],
        ),
    )
    assert money != order_id
    create_topic(shared_broker, "pb-orders", 1)
    value = {"id": "7", "total": {"currency": "EUR", "units": "12"},
             "placed_at": "2026-12-07T12:00:00Z", "items": ["tea", "cake"]}  # fmt: skip
    produced = rest.post(
        "/topics/pb-orders",
        headers={"Content-Type": PROTOBUF},
        json={"value_schema_id": order_id, "records": [{"value": value}]},
    )
    assert produced.status_code == 200, produced.text
    order = compiled_class(tmp_path / "o", {"common/money.proto": MONEY, "order.proto": ORDER},
                           "order.proto", "shop.Order")  # fmt: skip
    read = ProtobufDeserializer(order, {"use.deprecated.format": False},
                                schema_registry_client=_reader(shared_broker))  # fmt: skip
    (got,) = _read(read, "pb-orders", _raw(shared_broker, "pb-orders", 1))
    assert (got.id, got.total.units, got.placed_at.seconds, list(got.items)) == (
        7,
        12,
        1796644800,
        ["tea", "cake"],
    )
    assert _instance_reads(rest, "pb-orders", "protobuf", 1) == [value]

    refused = rest.post(
        "/topics/pb-orders",
        headers={"Content-Type": PROTOBUF},
        json={"value_schema_id": order_id, "records": [{"value": {"id": "x"}}]},
    )
    assert (refused.status_code, refused.json()["error_code"]) == (422, 42203), refused.text


def _v3(rest: httpx.Client, topic: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = "".join(json.dumps(r) for r in records)
    answer = rest.post(f"/v3/clusters/logd/topics/{topic}/records", content=body,
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines()]


def test_v3_records_with_schemas_by_id_latest_version_and_value(
    rest: httpx.Client, shared_broker: BrokerProcess, registry: SchemaRegistryClient,
) -> None:  # fmt: skip
    registry.register_schema("shop.Customer", Schema(json.dumps(CUSTOMER), "AVRO"))
    invoice_id = registry.register_schema(
        "v3-invoices-value",
        Schema(json.dumps(INVOICE), "AVRO", [SchemaReference("shop.Customer", "shop.Customer", 1)]),
    )
    create_topic(shared_broker, "v3-invoices", 1)
    invoice = {"who": {"name": "ann"}, "cents": 1250}
    reports = _v3(rest, "v3-invoices", [
        {"value": {"schema_id": invoice_id, "data": invoice}},
        {"value": {"schema_id": invoice_id, "data": {"who": 5}}},  # does not fit: its own 422
        {"value": {"schema_id": 987654, "data": invoice}},  # unknown id: its own 404
        {"key": {"type": "STRING", "data": "k"},
         "value": {"type": "AVRO", "schema_version": 1, "data": invoice}},  # v3-invoices-value v1
    ])  # fmt: skip
    assert [r["error_code"] for r in reports] == [200, 422, 404, 200], reports
    assert reports[0]["value"] == {"type": "AVRO", "size": 11, "subject": None,
                                   "schema_id": invoice_id, "schema_version": None}  # fmt: skip
    assert reports[3]["value"]["subject"] == "v3-invoices-value"
    assert reports[3]["value"]["schema_version"] == 1
    assert reports[3]["key"] == {"type": "STRING", "size": 1}
    read = AvroDeserializer(registry)
    assert _read(read, "v3-invoices", _raw(shared_broker, "v3-invoices", 2)) == [invoice] * 2

    # JSON Schema with a $ref, by the subject's latest version (TopicNameStrategy).
    registry.register_schema("address.json", Schema(json.dumps(ADDRESS), "JSON"))
    registry.register_schema(
        "v3-people-value",
        Schema(json.dumps(PERSON), "JSON", [SchemaReference("address.json", "address.json", 1)]),
    )
    create_topic(shared_broker, "v3-people", 1)
    reports = _v3(
        rest,
        "v3-people",
        [
            {"value": {"data": {"home": {"zip": "75001"}}}},
            {"value": {"data": {"home": {"zip": 75001}}}},
        ],
    )
    assert [r["error_code"] for r in reports] == [200, 422], reports
    assert reports[0]["value"]["type"] == "JSONSCHEMA"
    read = JSONDeserializer(None, schema_registry_client=registry)
    assert _read(read, "v3-people", _raw(shared_broker, "v3-people", 1)) == [
        {"home": {"zip": "75001"}}
    ]


def test_v3_protobuf_by_value_with_curl(
    shared_broker: BrokerProcess, registry: SchemaRegistryClient, tmp_path: Path
) -> None:
    create_topic(shared_broker, "v3-readings", 1)
    record = {"value": {"type": "PROTOBUF", "schema": READING,
                        "data": {"sensor": "s9", "temp": -4.0}}}  # fmt: skip
    url = f"{url_of(shared_broker)}/v3/clusters/logd/topics/v3-readings/records"
    out = subprocess.run(["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json",
                          "--data", json.dumps(record), url],
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    (report,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert report["error_code"] == 200, report
    assert report["value"]["subject"] == "v3-readings-value"
    assert (
        registry.get_latest_version("v3-readings-value").schema_id == (report["value"]["schema_id"])
    )
    reading = compiled_class(tmp_path, {"reading.proto": READING}, "reading.proto",
                             "iot.Reading")  # fmt: skip
    read = ProtobufDeserializer(reading, {"use.deprecated.format": False},
                                schema_registry_client=registry)  # fmt: skip
    assert _read(read, "v3-readings", _raw(shared_broker, "v3-readings", 1)) == [
        reading(sensor="s9", temp=-4.0)
    ]
