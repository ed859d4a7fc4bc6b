"""Bad input on the HTTP listener gets the documented error and stores nothing.

One broker with small limits (``http.*`` settings): 64 KiB bodies, a 1.5 s request timeout,
no automatic topic creation, 16 connections, CORS for one origin.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import (
    BINARY,
    JSON_V2,
    create_topic,
    end_offset,
    http_config,
    url_of,
)

pytestmark = pytest.mark.integration

ORIGIN = "https://dashboard.example"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root = tmp_path_factory.mktemp("http-limits")
    config = http_config(
        root,
        max_request_bytes=65536,
        request_timeout_ms=1500,
        auto_create_topics=False,
        max_connections=16,
        access_control_allow_origin=ORIGIN,
    )
    broker = BrokerProcess(root / "broker", config_file=config)
    broker.start()
    create_topic(broker, "t", 2)
    yield broker
    code = broker.stop()
    assert "Traceback" not in broker.stderr_text(), broker._tail()
    assert code == 0, broker._tail()


@pytest.fixture
def rest(limited: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url_of(limited), timeout=30) as client:
        before = end_offset(client, "t", 0), end_offset(client, "t", 1)
        yield client
        after = end_offset(client, "t", 0), end_offset(client, "t", 1)
        assert after == before, "a refused request stored nothing"


def _error(answer: httpx.Response, status: int, code: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and "\n" not in body["message"]
    assert "Traceback" not in answer.text
    return str(body["message"])


def test_malformed_json(rest: httpx.Client) -> None:
    answer = rest.post("/topics/t", content=b'{"records": [', headers={"Content-Type": JSON_V2})
    assert "Malformed JSON" in _error(answer, 400, 400)


def test_wrong_content_type(rest: httpx.Client) -> None:
    for content_type in ("text/plain", "application/xml", "application/vnd.kafka.avro.v9+json"):
        answer = rest.post("/topics/t", content=b"{}", headers={"Content-Type": content_type})
        _error(answer, 415, 415)
    answer = rest.post("/topics/t", content=b"{}")  # none at all
    _error(answer, 415, 415)


def test_base64_that_is_not(rest: httpx.Client) -> None:
    body = {"records": [{"value": "aGVsbG8="}, {"value": "not base64!"}]}
    answer = rest.post("/topics/t", json=body, headers={"Content-Type": BINARY})
    assert "records[1].value" in _error(answer, 422, 42203)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"records": []},
        {"records": "x"},
        {"records": [1]},
        {"records": [{"value": 1, "colour": "red"}]},
        {"records": [{"value": 1, "partition": -1}]},
        {"records": [{"value": 1, "partition": True}]},
        {"records": [{"value": 1, "headers": [{"value": "eA=="}]}]},
        [1, 2],
    ],
)
def test_bodies_of_the_wrong_shape(rest: httpx.Client, body: object) -> None:
    answer = rest.post("/topics/t", content=json.dumps(body), headers={"Content-Type": JSON_V2})
    _error(answer, 422, 422)


def test_an_oversized_body_and_a_gzip_bomb(rest: httpx.Client) -> None:
    big = json.dumps({"records": [{"value": "x" * 70_000}]})
    _error(rest.post("/topics/t", content=big, headers={"Content-Type": JSON_V2}), 413, 413)
    bomb = gzip.compress(b'{"records":[{"value":"' + b"A" * 50_000_000 + b'"}]}')
    assert len(bomb) < 100_000
    answer = rest.post(
        "/topics/t",
        content=bomb,
        headers={"Content-Type": JSON_V2, "Content-Encoding": "gzip"},
    )
    _error(answer, 413, 413)


def test_unknown_topic_and_partition(rest: httpx.Client) -> None:
    record = {"records": [{"value": 1}]}
    headers = {"Content-Type": JSON_V2}
    _error(rest.post("/topics/nope", json=record, headers=headers), 404, 40401)
    _error(rest.get("/topics/nope"), 404, 40401)
    _error(rest.get("/topics/nope/partitions"), 404, 40401)
    _error(rest.post("/topics/t/partitions/7", json=record, headers=headers), 404, 40402)
    _error(rest.get("/topics/t/partitions/7"), 404, 40402)
    _error(rest.get("/topics/t/partitions/x"), 404, 40402)
    answer = rest.post("/topics/t", json={"records": [{"value": 1, "partition": 9}]},
                       headers=headers)  # fmt: skip
    assert answer.status_code == 200
    (offset,) = answer.json()["offsets"]
    assert (
        offset["offset"] is None and offset["error_code"] == 2 and "partition 9" in offset["error"]
    )


def test_unknown_route_and_method(rest: httpx.Client) -> None:
    _error(rest.get("/nowhere"), 404, 404)
    answer = rest.delete("/topics")
    _error(answer, 405, 405)
    assert "GET" in answer.headers["allow"]


def test_a_body_that_trickles_past_the_request_timeout(limited: BrokerProcess) -> None:
    host, port = limited.bound()["http"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Type: " + JSON_V2.encode()
            + b"\r\nContent-Length: 1000\r\n\r\n{\"records\":"
        )  # fmt: skip
        started = time.monotonic()
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b'"error_code":408' in head or b'"error_code": 408' in head
        assert time.monotonic() - started < 10


def test_oversized_header(rest: httpx.Client) -> None:
    answer = rest.get("/brokers", headers={"X-Big": "y" * 20_000})
    assert answer.status_code in (400, 431)


def test_connections_beyond_the_limit_are_refused(limited: BrokerProcess) -> None:
    host, port = limited.bound()["http"].rsplit(":", 1)
    held = []
    try:
        for _ in range(16):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"GET /brokers HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(sock)
        extra = socket.create_connection((host, int(port)), timeout=10)
        held.append(extra)
        answer = extra.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"too many connections" in answer
    finally:
        for sock in held:
            sock.close()
    # once they closed, new connections are served again
    with httpx.Client(base_url=url_of(limited), timeout=10) as client:
        wait_until(lambda: client.get("/brokers").status_code == 200, message="a free slot")


def test_cors_for_the_configured_origin_only(rest: httpx.Client) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    answer = rest.options("/topics/t", headers=preflight)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "Content-Type" in answer.headers["access-control-allow-headers"]
    assert (
        rest.get("/brokers", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"]
        == ORIGIN
    )
    other = {**preflight, "Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in rest.options("/topics/t", headers=other).headers
    assert (
        "access-control-allow-origin"
        not in rest.get("/brokers", headers={"Origin": "https://evil.example"}).headers
    )
    error = rest.get("/topics/nope", headers={"Origin": ORIGIN})
    assert error.status_code == 404 and error.headers["access-control-allow-origin"] == ORIGIN


def test_a_config_mistake_is_one_line(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "b", config_file=http_config(tmp_path, max_connections=0))
    broker.start(wait=False)
    assert broker.proc is not None
    assert broker.proc.wait(60) != 0
    err = broker.stderr_text()
    assert "http.max.connections" in err and "Traceback" not in err
    broker.close()
