"""REST Proxy v3 produce on a real broker: one record, many concatenated (one report per
record, in order, a bad one failing alone), and the streaming mode driven by curl -- each
report arrives while the request body is still open."""

from __future__ import annotations

import base64
import json
import selectors
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from logd.client import Consumer, TopicPartition
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import create_topic, url_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rest(shared_broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url_of(shared_broker), timeout=30) as client:
        yield client


def _records_path(client: httpx.Client, topic: str) -> str:
    (cluster,) = client.get("/v3/clusters").json()["data"]
    return f"/v3/clusters/{cluster['cluster_id']}/topics/{topic}/records"


def _reports(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _read(broker: BrokerProcess, topic: str, partition: int, count: int) -> list[Any]:
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, partition, 0)])
        records = consumer.consume(count, timeout=20)
    assert len(records) == count
    return records


def test_one_record_with_key_value_headers_and_time(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    create_topic(shared_broker, "v3-one", 2)
    body = {
        "partition_id": 1,
        "headers": [{"name": "source", "value": base64.b64encode(b"lambda").decode()}],
        "key": {"type": "STRING", "data": "sensor-7"},
        "value": {"type": "JSON", "data": {"temp": 21.5}},
        "timestamp": "2024-05-06T07:08:09.010Z",
    }
    answer = rest.post(_records_path(rest, "v3-one"), json=body)
    assert answer.status_code == 200, answer.text
    (report,) = _reports(answer.text)
    assert report["error_code"] == 200 and report["topic_name"] == "v3-one"
    assert report["partition_id"] == 1
    assert report["key"] == {"type": "STRING", "size": 8}
    assert report["value"] == {"type": "JSON", "size": len(b'{"temp":21.5}')}
    assert report["timestamp"] == "2024-05-06T07:08:09.010+00:00"
    (record,) = _read(shared_broker, "v3-one", 1, 1)
    assert record.offset == report["offset"]
    assert (record.key, json.loads(record.value)) == (b"sensor-7", {"temp": 21.5})
    assert record.headers == [("source", b"lambda")]
    assert record.timestamp == 1714979289010


def test_concatenated_records_get_reports_in_order_and_a_bad_one_fails_alone(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    create_topic(shared_broker, "v3-many", 1)
    good = [{"value": {"type": "STRING", "data": f"r{i}"}} for i in range(5)]
    bad = {"value": {"type": "BINARY", "data": "not base64!"}}
    body = "\n".join(json.dumps(r) for r in [*good[:2], bad, *good[2:]])
    answer = rest.post(
        _records_path(rest, "v3-many"), content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    reports = _reports(answer.text)
    assert [r["error_code"] for r in reports] == [200, 200, 400, 200, 200, 200]
    assert "base64" in reports[2]["message"]
    stored = _read(shared_broker, "v3-many", 0, 5)
    assert [r.value for r in stored] == [f"r{i}".encode() for i in range(5)]
    assert [r["offset"] for r in reports if r["error_code"] == 200] == [r.offset for r in stored]


def test_the_streaming_mode_answers_each_record_while_the_body_is_open(
    shared_broker: BrokerProcess,
) -> None:
    """curl streams its stdin as a chunked body (``-T .``: stdin read without blocking); a
    report comes back for each record before the next is written, so the two directions
    really interleave."""
    create_topic(shared_broker, "v3-stream", 1)
    with httpx.Client(base_url=url_of(shared_broker)) as client:
        url = url_of(shared_broker) + _records_path(client, "v3-stream")
    curl = subprocess.Popen(
        ["curl", "-sS", "-N", "-X", "POST", "-T", ".", "-H", "Content-Type: application/json",
         "-H", "Transfer-Encoding: chunked", url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )  # fmt: skip
    assert curl.stdin is not None and curl.stdout is not None
    watch = selectors.DefaultSelector()
    watch.register(curl.stdout, selectors.EVENT_READ)
    try:
        offsets = []
        for i in range(3):
            curl.stdin.write(json.dumps({"value": {"type": "STRING", "data": f"s{i}"}}) + "\n")
            curl.stdin.flush()
            deadline = time.monotonic() + 30
            while not watch.select(timeout=max(0.0, deadline - time.monotonic())):
                assert time.monotonic() < deadline, f"no report for record {i}"
            report = json.loads(curl.stdout.readline())
            assert report["error_code"] == 200
            offsets.append(report["offset"])
        curl.stdin.close()
        assert curl.wait(timeout=30) == 0
        assert curl.stdout.read().strip() == ""
    finally:
        curl.kill()
        curl.wait()
    stored = _read(shared_broker, "v3-stream", 0, 3)
    expected = list(zip(offsets, [b"s0", b"s1", b"s2"], strict=True))
    assert [(r.offset, r.value) for r in stored] == expected


def test_a_record_larger_than_the_limit_ends_the_stream_with_a_400(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    """Limits from the shared broker's defaults: 16 MiB of one unfinished record."""
    create_topic(shared_broker, "v3-big", 1)
    small = json.dumps({"value": {"type": "STRING", "data": "ok"}})
    huge = '{"value": {"type": "STRING", "data": "' + "x" * (17 * 1024 * 1024)
    answer = rest.post(
        _records_path(rest, "v3-big"), content=small + huge,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200
    first, last = _reports(answer.text)
    assert first["error_code"] == 200
    assert last["error_code"] == 400 and "longer than" in last["message"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Content-Type": "text/plain"}, 415), ({"Content-Encoding": "br"}, 415)],
)
def test_a_wrong_content_type_or_encoding_is_refused_before_reading(
    rest: httpx.Client, headers: dict[str, str], status: int
) -> None:
    answer = rest.post(_records_path(rest, "v3-refused"), content=b"{}", headers=headers)
    assert answer.status_code == status
    assert answer.json()["error_code"] == status
