"""The REST Proxy on a real broker, driven by real clients: httpx and curl.

Confluent's documented examples are replayed and compared field by field
(``http_examples.py``); records produced over HTTP are read back with the gRPC client (and the
other way in ``test_http_consumers.py``); the issue's "done when" curl returns the offset.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from logd.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from partitioning.keys import partition_for
from tests.integration.cluster import BrokerProcess
from tests.integration.http_examples import EXAMPLES, same_shape
from tests.integration.http_support import BINARY, JSON_V2, V2, create_topic, end_offset, url_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rest(shared_broker: BrokerProcess) -> Iterator[httpx.Client]:
    create_topic(shared_broker, "test", 3)
    with httpx.Client(base_url=url_of(shared_broker), timeout=30) as client:
        yield client


def _read(broker: BrokerProcess, topic: str, partition: int, count: int) -> list[object]:
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, partition, 0)])
        records = consumer.consume(count, timeout=20)
    assert len(records) == count
    return list(records)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_confluent_examples_replayed_field_by_field(rest: httpx.Client, name: str) -> None:
    method, path, headers, body, status, documented = EXAMPLES[name]
    content = None if body is None else json.dumps(body)
    answer = rest.request(method, path, headers=headers, content=content)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == V2
    ours = answer.json()
    assert same_shape(documented, ours) == []
    if "offsets" in documented:
        assert ours["key_schema_id"] is None and ours["value_schema_id"] is None
        for sent, got in zip(body["records"], ours["offsets"], strict=True):
            assert got["error_code"] is None and got["error"] is None, got
            if "partition" in sent or path.endswith("/partitions/1"):
                assert got["partition"] == 1
        keyed = [
            got["partition"]
            for sent, got in zip(body["records"], ours["offsets"], strict=True)
            if sent.get("key") == "a2V5"
        ]
        assert keyed in ([], [partition_for(b"key", 3)])


def test_the_done_when_curl_returns_the_offset(shared_broker: BrokerProcess) -> None:
    """The issue's command, verbatim but for the port; the topic does not exist before."""
    out = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-H", f"Content-Type: {JSON_V2}", "--data",
         '{"records":[{"value":{"temp":21.5}}]}', f"{url_of(shared_broker)}/topics/demo"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    answer = json.loads(out)
    (offset,) = answer["offsets"]
    assert offset["partition"] == 0 and offset["error_code"] is None
    assert isinstance(offset["offset"], int) and offset["offset"] >= 0
    (record,) = _read(shared_broker, "demo", 0, 1)
    assert json.loads(record.value) == {"temp": 21.5}  # type: ignore[attr-defined]
    assert record.offset == offset["offset"]  # type: ignore[attr-defined]


def test_http_records_read_back_through_grpc(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    create_topic(shared_broker, "h2g", 4)
    records = [
        {"key": base64.b64encode(b"k%d" % i).decode(), "value": base64.b64encode(b"v%d" % i)
         .decode(), "headers": [{"name": "trace", "value": base64.b64encode(b"t%d" % i).decode()},
                                {"name": "empty", "value": None}]}
        for i in range(20)
    ]  # fmt: skip
    answer = rest.post("/topics/h2g", content=json.dumps({"records": records}),
                       headers={"Content-Type": BINARY})  # fmt: skip
    assert answer.status_code == 200, answer.text
    offsets = answer.json()["offsets"]
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for i, got in enumerate(offsets):
        assert got["partition"] == partition_for(b"k%d" % i, 4)
        by_partition.setdefault(got["partition"], []).append((got["offset"], i))
    for partition, expected in by_partition.items():
        read = _read(shared_broker, "h2g", partition, len(expected))
        assert [(r.offset, r.key, r.value, r.headers) for r in read] == [  # type: ignore[attr-defined]
            (off, b"k%d" % i, b"v%d" % i, [("trace", b"t%d" % i), ("empty", None)])
            for off, i in expected
        ]


def test_records_produced_with_grpc_show_in_the_partition_offsets(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    """The end offset is the one after the last record (a new partition's leader may hold an
    entry of its own before the first record, so offsets are read, not assumed)."""
    create_topic(shared_broker, "g2h", 1)
    with Producer(brokers=shared_broker.address) as producer:
        for i in range(5):
            producer.produce("g2h", b"%d" % i)
        assert producer.flush(30) == 0
    read = _read(shared_broker, "g2h", 0, 5)
    assert [r.value for r in read] == [b"%d" % i for i in range(5)]  # type: ignore[attr-defined]
    assert end_offset(rest, "g2h") == read[-1].offset + 1  # type: ignore[attr-defined]


def test_a_gzip_body_from_curl(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    body = json.dumps({"records": [{"value": {"n": i}} for i in range(500)]}).encode()
    packed = tmp_path / "body.json.gz"
    packed.write_bytes(gzip.compress(body))
    create_topic(shared_broker, "gz", 1)
    out = subprocess.run(
        ["curl", "-sS", "-H", f"Content-Type: {JSON_V2}", "-H", "Content-Encoding: gzip",
         "--data-binary", f"@{packed}", f"{url_of(shared_broker)}/topics/gz"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    offsets = json.loads(out)["offsets"]
    assert len(offsets) == 500 and all(o["error_code"] is None for o in offsets)
    numbers = [o["offset"] for o in offsets]
    assert numbers == list(range(numbers[0], numbers[0] + 500)), "one batch, in order"


def test_keep_alive_serves_several_requests_on_one_connection(shared_broker: BrokerProcess) -> None:
    host, port = shared_broker.bound()["http"].rsplit(":", 1)
    request = f"GET /brokers HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(request)
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert json.loads(reader.read(length)) == {"brokers": [0]}


def test_plain_json_is_answered_to_a_client_that_accepts_only_json(rest: httpx.Client) -> None:
    answer = rest.get("/brokers", headers={"Accept": "application/json"})
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"brokers": [0]}


def test_partition_offsets_and_v3_cluster_id(rest: httpx.Client) -> None:
    offsets = rest.get("/topics/test/partitions/0/offsets").json()
    assert set(offsets) == {"beginning_offset", "end_offset"}
    (cluster,) = rest.get("/v3/clusters").json()["data"]
    assert cluster["kind"] == "KafkaCluster" and cluster["cluster_id"]


def test_a_keyless_record_to_a_compacted_topic_is_refused_over_http(
    rest: httpx.Client, shared_broker: BrokerProcess
) -> None:
    """Issue 16: the core refuses it for every door; the REST proxy says so per record."""
    with Admin(brokers=shared_broker.address) as admin:
        admin.create_topics([NewTopic("h-compact", 1, 1, {"cleanup.policy": "compact"})])
    value = base64.b64encode(b"v").decode()
    for record, refused in (({"value": value}, True), ({"key": value, "value": value}, False)):
        answer = rest.post("/topics/h-compact", content=json.dumps({"records": [record]}),
                           headers={"Content-Type": BINARY})  # fmt: skip
        assert answer.status_code == 200, answer.text
        (got,) = answer.json()["offsets"]
        assert (got["error_code"] is not None) == refused, got
        if refused:
            assert "key" in got["error"], got
    assert end_offset(rest, "h-compact") == 2  # Raft's entry, then the keyed record
