"""The Kafka listener keeps Kafka's wire rules, checked byte for byte with kio's own
serializers: KIP-511 ApiVersions, in-order answers to pipelined requests, Produce v0-2
refused as Kafka 4 refuses them, and every kind of bad input closing the connection (never
the broker) -- a size over the limit before any allocation, unknown keys, versions, garbage,
a client dribbling a request, idle connections, too many connections."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pytest
from kio.index import load_request_schema
from kio.schema.api_versions.v0.response import ApiVersionsResponse as ApiVersionsResponseV0
from kio.schema.api_versions.v3.request import ApiVersionsRequest as ApiVersionsV3
from kio.schema.metadata.v12.request import MetadataRequest as MetadataV12
from kio.serial import entity_reader

from logd.frontends.kafka.table import API_TABLE
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.conftest import _finish
from tests.integration.kafka.conftest import bootstrap, start_kafka_broker
from tests.integration.kafka.raw import RawClient, request_frame

pytestmark = pytest.mark.integration

API_VERSIONS = 18


def _api_versions_v3() -> ApiVersionsV3:
    return ApiVersionsV3(client_software_name="logd-tests", client_software_version="1.0")


def _with_garbage(frame: bytes) -> bytes:
    return struct.pack(">i", len(frame) - 4 + 7) + frame[4:] + b"garbage"


def test_api_versions_lists_the_table_in_every_version(kafka: str) -> None:
    want = {(a.key, a.min_version, a.max_version) for a in API_TABLE.values()}
    with RawClient(kafka) as c:
        for version in range(5):
            cls = load_request_schema(API_VERSIONS, version)
            body = cls() if version < 3 else _api_versions_v3()
            answer = c.call(API_VERSIONS, version, body)
            assert answer.error_code == 0
            got = {(k.api_key, k.min_version, k.max_version) for k in answer.api_keys}
            assert got == want


def test_a_newer_api_versions_is_answered_in_a_v0_body_with_unsupported_version(
    kafka: str,
) -> None:
    # KIP-511: header v2 (a future flexible version), answer header v0 and a v0 body.
    frame = request_frame(API_VERSIONS, 4, _api_versions_v3(), correlation_id=77)
    frame = frame[:6] + struct.pack(">h", 9) + frame[8:]  # claim version 9
    with RawClient(kafka) as c:
        c.send_raw(frame)
        answer = c.read_frame()
        assert answer is not None
        assert struct.unpack_from(">i", answer)[0] == 77
        body, _ = entity_reader(ApiVersionsResponseV0)(answer, 4)
        assert body.error_code == 35  # UNSUPPORTED_VERSION
        assert {k.api_key for k in body.api_keys} == set(API_TABLE)
        # ... and the connection stays usable: the client retries with our maximum.
        assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0


def test_bad_client_software_names_are_invalid_request(kafka: str) -> None:
    with RawClient(kafka) as c:
        bad = ApiVersionsV3(client_software_name="-bad name-", client_software_version="1")
        assert c.call(API_VERSIONS, 3, bad).error_code == 42  # INVALID_REQUEST


def test_pipelined_requests_are_answered_in_order(kafka: str) -> None:
    with RawClient(kafka) as c:
        frames = []
        for i in range(60):
            if i % 2:
                frames.append(request_frame(API_VERSIONS, 3, _api_versions_v3(), 1000 + i))
            else:
                body = MetadataV12(topics=None, include_topic_authorized_operations=False)
                frames.append(request_frame(3, 12, body, 1000 + i))
        c.send_raw(b"".join(frames))  # all at once, before reading any answer
        got = []
        for _ in range(60):
            frame = c.read_frame()
            assert frame is not None
            got.append(struct.unpack_from(">i", frame)[0])
        assert got == [1000 + i for i in range(60)]


def test_produce_v0_to_v2_are_advertised_but_refused_per_partition(kafka: str) -> None:
    # Kafka 4's answer (KAFKA-18659): UNSUPPORTED_VERSION in a v2 body, connection kept.
    body = struct.pack(">hi", 1, 5000) + struct.pack(">i", 1) + struct.pack(">h", 4) + b"demo"
    body += struct.pack(">i", 1) + struct.pack(">ii", 0, 3) + b"xyz"
    head = struct.pack(">hhih", 0, 2, 5, 1) + b"t"
    with RawClient(kafka) as c:
        c.send_raw(struct.pack(">i", len(head) + len(body)) + head + body)
        answer = c.read_frame()
        assert answer is not None
        assert struct.unpack_from(">i", answer)[0] == 5
        # topics[1]: name "demo", partitions[1]: (0, error 35, base -1, append time -1)
        assert answer[4:] == (
            struct.pack(">ih", 1, 4) + b"demo" + struct.pack(">iihqq", 1, 0, 35, -1, -1)
        ) + struct.pack(">i", 0)
        assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("size over socket.request.max.bytes", struct.pack(">i", 2**31 - 1) + b"x" * 100),
        ("negative size", struct.pack(">i", -1)),
        ("unknown API key", struct.pack(">ihhih", 10, 999, 0, 1, -1)),
        ("version out of range", struct.pack(">ihhih", 10, 3, 99, 1, -1)),
        ("header shorter than a header", struct.pack(">i", 3) + b"abc"),
        (
            "a lying array length",
            struct.pack(">i", 14)
            + struct.pack(">hhih", 3, 4, 1, -1)
            + struct.pack(">i", 2**31 - 1),
        ),
        (
            "garbage after a valid header",
            struct.pack(">ihhih", 20, 3, 12, 1, -1) + b"\x00" + b"\xff" * 9,
        ),
    ],
)
def test_bad_input_closes_the_connection_and_the_broker_serves_on(
    kafka: str, name: str, data: bytes
) -> None:
    with RawClient(kafka) as c:
        c.send_raw(data)
        assert c.closed_by_broker(), name
    with RawClient(kafka) as c:
        assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0


def test_bytes_after_a_whole_request_are_ignored_as_kafka_ignores_them(kafka: str) -> None:
    # librdkafka's "all topics" Metadata v9+ carries 3 stray bytes (a count placeholder).
    with RawClient(kafka) as c:
        c.send_raw(_with_garbage(request_frame(API_VERSIONS, 3, _api_versions_v3(), 9)))
        correlation, answer = c.answer(API_VERSIONS, 3)
        assert (correlation, answer.error_code) == (9, 0)


def test_a_truncated_frame_then_hangup_leaves_the_broker_serving(kafka: str) -> None:
    with RawClient(kafka) as c:
        c.send_raw(struct.pack(">i", 1000) + b"\x00\x12\x00\x00")
    with RawClient(kafka) as c:
        assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0


@pytest.fixture(scope="module")
def strict_broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    config = '"connections.max.idle.ms" = 1500\n"max.connections" = 4\n'
    broker = start_kafka_broker(tmp_path_factory.mktemp("strict") / "broker", config)
    yield broker
    _finish([broker], failed=request.session.testsfailed > 0)


def test_idle_connections_are_closed(strict_broker: BrokerProcess) -> None:
    with RawClient(bootstrap(strict_broker)) as c:
        assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0
        started = time.monotonic()
        assert c.closed_by_broker()
        assert time.monotonic() - started >= 1.0


def test_a_client_dribbling_a_request_is_closed_as_idle(strict_broker: BrokerProcess) -> None:
    frame = request_frame(API_VERSIONS, 3, _api_versions_v3())
    with RawClient(bootstrap(strict_broker)) as c:
        started = time.monotonic()
        closed = False
        for byte in frame:  # one byte every 0.2 s: it would take several seconds
            try:
                c.send_raw(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            c.sock.settimeout(0.2)
            try:
                if c.sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "a request dribbled in over the idle time must not hold the connection"
        assert time.monotonic() - started < 10


def test_connections_over_max_connections_are_refused(strict_broker: BrokerProcess) -> None:
    address = bootstrap(strict_broker)
    held = [RawClient(address) for _ in range(4)]
    try:
        for c in held:
            assert c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0
        with RawClient(address) as extra:
            assert extra.closed_by_broker()
    finally:
        for c in held:
            c.close()
    # Once they are gone, new clients get in again.
    wait_until(lambda: _answers(address), timeout=10, message="a free connection slot")


def _answers(address: str) -> bool:
    try:
        with RawClient(address) as c:
            return bool(c.call(API_VERSIONS, 3, _api_versions_v3()).error_code == 0)
    except (AssertionError, OSError):
        return False
