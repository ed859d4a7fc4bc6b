"""The Kafka listener's fuzzer: frames for every API of the table, at every advertised
version -- valid requests (kio's own writer over hypothesis' values of kio's types), then
truncated, bit-flipped, extended or replaced by noise -- sent to a real broker. After each,
an ApiVersions probe on the same connection must be answered after every earlier answer,
or the connection must be closed; and the broker must always take a new connection. Never a
crash, a hang, or an answer out of order.

A few thousand frames in ``make test``; ``-m soak`` sends about 10^6."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_writer
from kio.static.primitive import Records

from logd.frontends.kafka.header import request_is_flexible
from logd.frontends.kafka.table import API_TABLE
from tests.integration.cluster import BrokerProcess
from tests.integration.conftest import _finish
from tests.integration.kafka.conftest import bootstrap, start_kafka_broker
from tests.integration.kafka.raw import RawClient, request_frame

pytestmark = pytest.mark.integration

st.register_type_strategy(Records, st.binary(max_size=128))

PROBE_CORRELATION = 2**31 - 1
PROBE = request_frame(
    18,
    3,
    ApiVersionsRequest(client_software_name="probe", client_software_version="1"),
    PROBE_CORRELATION,
)
# Small bounds, so that random values cannot make the broker do hours of real work.
FUZZ_CONFIG = """
"auto.create.topics.enable" = false
"fetch.max.wait.ms" = 20
"max.partitions.per.topic" = 4
"socket.request.max.bytes" = 1048576
"""


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    api = draw(st.sampled_from(list(API_TABLE.values())))
    version = draw(st.integers(api.min_version, api.max_version))
    known = schema_name_map[api_key_map[api.key]]
    if version in known:
        buf = io.BytesIO()
        cls = load_request_schema(api.key, version)
        entity_writer(cls)(buf, draw(st.from_type(cls)))
        body = buf.getvalue()
    else:  # Produce v0-2: advertised, refused; kio has no schema for them
        body = draw(st.binary(max_size=64))
    body = draw(_mutated(body))
    head = struct.pack(">hhih", api.key, version, draw(st.integers(0, 2**31 - 2)), 4) + b"fuzz"
    if request_is_flexible(api.key, version):
        head += b"\x00"
    data = head + body
    return struct.pack(">i", len(data)) + data


@st.composite
def _mutated(draw: st.DrawFn, body: bytes) -> bytes:
    how = draw(st.sampled_from(["as is", "as is", "truncate", "flip", "extend", "noise"]))
    if how == "truncate" and body:
        return body[: draw(st.integers(0, len(body) - 1))]
    if how == "flip" and body:
        raw = bytearray(body)
        for _ in range(draw(st.integers(1, 4))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw)
    if how == "extend":
        return body + draw(st.binary(min_size=1, max_size=32))
    if how == "noise":
        return draw(st.binary(max_size=256))
    return body


@pytest.fixture(scope="module")
def fuzz_broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    broker = start_kafka_broker(tmp_path_factory.mktemp("fuzz") / "broker", FUZZ_CONFIG)
    yield broker
    _finish([broker], failed=request.session.testsfailed > 0)


class _Session:
    """One connection reused across examples until the broker closes it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client: RawClient | None = None

    def send(self, frame: bytes) -> None:
        if self.client is None:
            self.client = RawClient(self.address)
        client = self.client
        try:
            client.send_raw(frame + PROBE)
        except OSError:
            self._reconnect_check()
            return
        while True:
            answer = client.read_frame()
            if answer is None:  # closed: allowed, and the broker must still serve
                self._reconnect_check()
                return
            (correlation,) = struct.unpack_from(">i", answer)
            if correlation == PROBE_CORRELATION:
                return

    def _reconnect_check(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = RawClient(self.address)
        self.client.send_raw(PROBE)
        answer = self.client.read_frame()
        assert answer is not None, "the broker no longer answers a fresh connection"


def _fuzz(broker: BrokerProcess, examples: int) -> None:
    session = _Session(bootstrap(broker))

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(batch=st.lists(frames(), min_size=1, max_size=6))
    def one(batch: list[bytes]) -> None:
        session.send(b"".join(batch))  # pipelined, as clients do

    try:
        one()
    finally:
        if session.client is not None:
            session.client.close()
    assert broker.running
    assert "Traceback" not in broker.stderr_text(), "bad input must be one log line"


def test_fuzz_every_api(fuzz_broker: BrokerProcess) -> None:
    # 300 examples of 1-6 pipelined frames: about a thousand frames (the soak: 10^6).
    _fuzz(fuzz_broker, int(os.environ.get("LOGD_KAFKA_FUZZ_EXAMPLES", "300")))


@pytest.mark.soak
def test_fuzz_every_api_at_length(fuzz_broker: BrokerProcess) -> None:
    _fuzz(fuzz_broker, 300_000)  # ~10^6 frames
