"""The console's schema registry pages and registry-decoded values, against a real broker:
a schema registered on its registry listener (Confluent's REST API), records framed the way
Confluent's serializers frame them (written here with fastavro, an encoder independent of
the avro package the broker decodes with), produced through its Kafka listener."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from confluent_kafka import Producer

from tests.helpers import wait_until
from tests.integration.admin.support import (
    PROTO_SCHEMA,
    READING,
    admin_url,
    framed,
    get,
    get_json,
    logd,
    register,
)
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

TOPIC = "payments"
SCHEMA = {
    "type": "record", "name": "Payment", "namespace": "shop",
    "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"},
               {"name": "memo", "type": ["null", "bytes"], "default": None}],
}  # fmt: skip
JSON_SCHEMA = {"type": "object", "properties": {"sku": {"type": "string"}}}
# A Reading.Note{text "hi"}, after its message indexes [0, 0] (2, 0, 0 zigzagged).
NOTE = b"\x04\x00\x00" + b"\x0a\x02hi"


def test_schema_pages_and_avro_values_decoded_through_the_registry(
    shared_broker: BrokerProcess,
) -> None:
    b = shared_broker
    assert logd(b, "topic", "create", TOPIC, "-p", "1", "-r", "1").returncode == 0
    avro_id = register(b, f"{TOPIC}-value", SCHEMA)
    json_id = register(b, "orders-value", JSON_SCHEMA, "JSON")
    proto_id = register(b, "readings-value", PROTO_SCHEMA, "PROTOBUF")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMA),
                               {"id": "p-1", "cents": 1250, "memo": b"\x00\xff"})  # fmt: skip
    producer = Producer({"bootstrap.servers": b.bound()["kafka"]})
    producer.produce(TOPIC, key=b"p-1", value=framed(avro_id, out.getvalue()))
    producer.produce(TOPIC, key=b"o-1", value=framed(json_id, b'{"sku": "A-7"}'))
    producer.produce(TOPIC, key=b"unknown", value=framed(99_999, b"\x02\x04"))
    producer.produce(TOPIC, key=b"r-1", value=framed(proto_id, READING))
    producer.produce(TOPIC, key=b"r-2", value=framed(proto_id, NOTE))
    producer.produce(TOPIC, key=b"r-3", value=framed(proto_id, b"\x00\x0a\x09short"))
    assert producer.flush(30) == 0

    # The subjects, as the registry's own /subjects lists them.
    def listed() -> dict[str, dict[str, object]]:
        status, answer = get_json(admin_url(b, "/api/schemas"))
        assert status == 200 and answer["enabled"] is True, answer
        return {s["subject"]: s for s in answer["subjects"]}

    subjects = wait_until(lambda: listed() if len(listed()) >= 3 else None, 30, 0.2,
                          message="the registry's state to apply all three")  # fmt: skip
    assert subjects[f"{TOPIC}-value"]["latest"] == {"version": 1, "id": avro_id, "type": "AVRO"}
    assert subjects["orders-value"]["ids"] == [json_id]
    status, versions = get_json(admin_url(b, f"/api/schemas/{TOPIC}-value"))
    assert status == 200 and json.loads(versions["versions"][0]["schema"]) == SCHEMA
    assert get(admin_url(b, "/api/schemas/no-such-subject"))[0] == 404

    status, answer = get_json(admin_url(b, f"/api/topics/{TOPIC}/messages?from=oldest"))
    assert status == 200, answer
    by_key = {r["key"]: r for r in answer["records"]}
    payment = by_key["p-1"]
    assert (payment["value_format"], payment["value_schema_id"]) == ("avro", avro_id)
    assert payment["value"] == {"id": "p-1", "cents": 1250, "memo": "AP8="}  # bytes: base64
    order = by_key["o-1"]
    assert (order["value_format"], order["value"]) == ("json-schema", {"sku": "A-7"})
    assert "value_schema_id" not in by_key["unknown"]  # an id the registry never gave
    # Protobuf through the schema's own descriptors: Protobuf's JSON mapping (int64 as a
    # string), a nested message by its indexes; bytes that are not the message stay hex.
    reading = by_key["r-1"]
    assert (reading["value_format"], reading["value_schema_id"]) == ("protobuf", proto_id)
    assert reading["value"] == {"device": "d-7", "millis": "42", "values": [21.5]}
    assert (by_key["r-2"]["value_format"], by_key["r-2"]["value"]) == ("protobuf", {"text": "hi"})
    assert (by_key["r-3"]["value_format"], by_key["r-3"]["value_schema_id"]) == ("hex", proto_id)
    # Asked for hex, the bytes as they are.
    status, raw = get_json(admin_url(b, f"/api/topics/{TOPIC}/messages?from=oldest&format=hex"))
    assert status == 200 and raw["records"][0]["value"].startswith("00")
