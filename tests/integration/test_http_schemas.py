"""The avro and jsonschema embedded formats on a real broker: produce with the schema by
value (registered under {topic}-value) and by id, read back by a REST consumer instance in
the same format and by logd's client deserializers (Confluent's wire format), and the
refusals: no schema, an unknown id, an invalid schema, a value that does not fit (nothing
stored)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from logd.client import Consumer, TopicPartition
from logd.client.serde import AvroDeserializer, JsonSchemaDeserializer, RegistryClient
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import V2, create_topic, end_offset, url_of

pytestmark = pytest.mark.integration

AVRO = "application/vnd.kafka.avro.v2+json"
JSONSCHEMA = "application/vnd.kafka.jsonschema.v2+json"
READING = {"type": "record", "name": "Reading", "fields": [
    {"name": "sensor", "type": "string"}, {"name": "temp", "type": "double"},
    {"name": "note", "type": ["null", "string"], "default": None},
]}  # fmt: skip
TEMP = {"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"]}


@pytest.fixture(scope="module")
def rest(shared_broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url_of(shared_broker), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def registry(shared_broker: BrokerProcess) -> RegistryClient:
    return RegistryClient(f"http://{shared_broker.bound()['registry']}")


def _raw(broker: BrokerProcess, topic: str, count: int) -> list[bytes]:
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = consumer.consume(count, timeout=20)
    assert len(records) == count
    return [r.value for r in records]  # type: ignore[attr-defined]


def _read_with_instance(rest: httpx.Client, topic: str, fmt: str, count: int) -> list[object]:
    group = f"g-{topic}"
    config = {"name": "c", "format": fmt, "auto.offset.reset": "earliest"}
    made = rest.post(f"/consumers/{group}", headers={"Content-Type": V2}, json=config)
    assert made.status_code == 200, made.text
    base = f"/consumers/{group}/instances/c"
    try:
        rest.post(f"{base}/assignments", headers={"Content-Type": V2},
                  json={"partitions": [{"topic": topic, "partition": 0}]})  # fmt: skip
        got: list[object] = []
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


def test_avro_by_value_then_by_id_reads_back_both_ways(
    rest: httpx.Client, shared_broker: BrokerProcess, registry: RegistryClient
) -> None:
    create_topic(shared_broker, "sch-avro", 1)
    first = rest.post("/topics/sch-avro", headers={"Content-Type": AVRO}, json={
        "value_schema": json.dumps(READING),
        "records": [{"value": {"sensor": "s1", "temp": 21.5, "note": {"string": "ok"}}}],
    })  # fmt: skip
    assert first.status_code == 200, first.text
    schema_id = first.json()["value_schema_id"]
    assert isinstance(schema_id, int) and first.json()["key_schema_id"] is None
    assert registry.latest("sch-avro-value")["id"] == schema_id
    second = rest.post("/topics/sch-avro", headers={"Content-Type": AVRO}, json={
        "value_schema_id": schema_id,
        "records": [{"value": {"sensor": "s2", "temp": -3.0, "note": None}}],
    })  # fmt: skip
    assert second.status_code == 200, second.text
    assert second.json()["value_schema_id"] == schema_id
    decode = AvroDeserializer(registry)
    assert [decode(v) for v in _raw(shared_broker, "sch-avro", 2)] == [
        {"sensor": "s1", "temp": 21.5, "note": "ok"},
        {"sensor": "s2", "temp": -3.0, "note": None},
    ]
    assert _read_with_instance(rest, "sch-avro", "avro", 2) == [
        {"sensor": "s1", "temp": 21.5, "note": {"string": "ok"}},
        {"sensor": "s2", "temp": -3.0, "note": None},
    ]


def test_jsonschema_checks_values_before_anything_is_stored(
    rest: httpx.Client, shared_broker: BrokerProcess, registry: RegistryClient
) -> None:
    create_topic(shared_broker, "sch-json", 1)
    bad = rest.post("/topics/sch-json", headers={"Content-Type": JSONSCHEMA}, json={
        "value_schema": json.dumps(TEMP),
        "records": [{"value": {"temp": 20}}, {"value": {"temp": "warm"}}],
    })  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error_code"] == 42203, bad.text
    assert "records[1].value" in bad.json()["message"]
    assert end_offset(rest, "sch-json") <= 1  # nothing but the partition's own first entry
    good = rest.post("/topics/sch-json", headers={"Content-Type": JSONSCHEMA}, json={
        "value_schema": json.dumps(TEMP), "records": [{"value": {"temp": 20, "where": "x"}}],
    })  # fmt: skip
    assert good.status_code == 200, good.text
    (stored,) = _raw(shared_broker, "sch-json", 1)
    assert JsonSchemaDeserializer(registry)(stored) == {"temp": 20, "where": "x"}
    assert _read_with_instance(rest, "sch-json", "jsonschema", 1) == [{"temp": 20, "where": "x"}]


@pytest.fixture(scope="module")
def bad_topic(rest: httpx.Client, shared_broker: BrokerProcess) -> str:
    """A topic holding one record already (so its end offset moves only with records)."""
    create_topic(shared_broker, "sch-bad", 1)
    first = rest.post("/topics/sch-bad", headers={"Content-Type": "application/vnd.kafka"
                      ".json.v2+json"}, json={"records": [{"value": 1}]})  # fmt: skip
    assert first.status_code == 200, first.text
    return "sch-bad"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"records": [{"value": {"temp": 1}}]}, 422, 42202),
        ({"key_schema": json.dumps(TEMP), "records": [{"key": 1, "value": {"temp": 1}}]},
         422, 42202),
        ({"records": [{"key": {"temp": 1}}]}, 422, 42201),
        ({"value_schema_id": 987654, "records": [{"value": {"temp": 1}}]}, 404, 40403),
        ({"value_schema": "{not json", "records": [{"value": {"temp": 1}}]}, 422, 42201),
        ({"value_schema": json.dumps({"type": "wat"}), "records": [{"value": 1}]}, 422, 42201),
    ],
)  # fmt: skip
def test_schema_refusals_store_nothing(
    rest: httpx.Client,
    bad_topic: str,
    body: dict[str, object],
    status: int,
    code: int,
) -> None:
    before = end_offset(rest, bad_topic)
    answer = rest.post(f"/topics/{bad_topic}", headers={"Content-Type": JSONSCHEMA}, json=body)
    assert (answer.status_code, answer.json()["error_code"]) == (status, code), answer.text
    assert end_offset(rest, bad_topic) == before
