"""The MQTT codec fuzzed (hypothesis): every packet of both versions round-trips through
encode, any split of its bytes and the framer; and arbitrary or mutated bytes only ever
give packets, NEED_DATA or an MqttError — never another exception, never a buffer past
its bound. A few thousand cases by default; ``-m soak`` runs many more."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.frontends.mqtt.codec import decode_publish, decode_publish_plain, encode
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.framer import NEED_DATA, PacketReader
from logd.frontends.mqtt.packets import MQTT_3_1_1, MQTT_5, Connect, Packet
from logd.frontends.mqtt.properties import NO_PROPERTIES
from logd.frontends.mqtt.wire import Reader
from tests.frontends.mqtt.strategies import packets, publishes

LIMIT = 4096
DEFAULT = settings(
    max_examples=600, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
SOAK = settings(DEFAULT, max_examples=50_000)


def _read_all(reader: PacketReader, data: bytes, cuts: list[int]) -> list[Packet]:
    """Feed ``data`` split at ``cuts``; every packet the reader hands out."""
    out: list[Packet] = []
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        reader.feed(data[start:end])
        assert reader.buffered <= LIMIT + (end - start)
        while (packet := reader.next_packet()) is not NEED_DATA:
            assert not isinstance(packet, type(NEED_DATA))
            out.append(packet)
    return out


def _round_trip(version: int, items: list[Packet], cuts: list[int]) -> None:
    data = b"".join(encode(p, p.version if isinstance(p, Connect) else version) for p in items)
    reader = PacketReader(1 << 20, expect_connect=False, version=version)
    assert _read_all(reader, data, cuts) == items
    assert reader.buffered == 0


def _garbage(data: bytes, cuts: list[int], expect_connect: bool) -> None:
    reader = PacketReader(LIMIT, expect_connect=expect_connect, version=MQTT_5)
    try:
        _read_all(reader, data, cuts)
    except MqttError as exc:
        assert str(exc)  # one clear line
        assert "\n" not in str(exc)


_cuts = st.lists(st.integers(0, 10_000), max_size=6)


_stream = st.one_of(
    st.tuples(st.just(v), st.lists(packets(v), min_size=1, max_size=5))
    for v in (MQTT_3_1_1, MQTT_5)
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """Well-formed packets with a few bytes flipped, cut or inserted: near-misses reach far
    deeper into the decoders than random bytes do."""
    version, items = draw(_stream)
    data = bytearray(b"".join(encode(p, version) for p in items))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@DEFAULT
@given(_stream, _cuts)
def test_every_packet_round_trips_through_any_split(stream, cuts) -> None:
    _round_trip(stream[0], stream[1], cuts)


@settings(DEFAULT, max_examples=700)
@given(st.binary(max_size=300), _cuts, st.booleans())
def test_arbitrary_bytes_give_packets_need_data_or_an_mqtt_error(data, cuts, first) -> None:
    _garbage(data, cuts, first)


@settings(DEFAULT, max_examples=450)
@given(_mutated(), _cuts, st.booleans())
def test_mutated_packets_give_packets_need_data_or_an_mqtt_error(data, cuts, first) -> None:
    _garbage(data, cuts, first)


@pytest.mark.soak
@SOAK
@given(_stream, _cuts)
def test_soak_round_trip(stream, cuts) -> None:
    _round_trip(stream[0], stream[1], cuts)


@pytest.mark.soak
@SOAK
@given(_mutated(), _cuts, st.booleans())
def test_soak_mutated(data, cuts, first) -> None:
    _garbage(data, cuts, first)


def _same_as_the_general_path(version: int, flags: int, body: bytes) -> None:
    """The plain PUBLISH reader either declines (None) or reads what the general one reads;
    it never raises (a refusal is the general path's, with its reason)."""
    buf = bytearray(b"pad" + body + b"next")  # fields past the body must never be read
    plain = decode_publish_plain(buf, 3, 3 + len(body), flags, version)
    if plain is None:
        return
    assert plain == decode_publish(Reader(buf, "PUBLISH", 3, 3 + len(body)), flags, version)


@settings(DEFAULT, max_examples=300)
@given(st.sampled_from((MQTT_3_1_1, MQTT_5)), st.data())
def test_the_plain_publish_reader_reads_what_the_general_one_reads(version, data) -> None:
    publish = data.draw(publishes(version))
    frame = encode(publish, version)
    length_end = next(i for i, b in enumerate(frame[1:], 1) if not b & 0x80)
    body = frame[length_end + 1 :]
    cut = data.draw(st.integers(0, len(body)))
    flip = data.draw(st.integers(0, max(0, len(body) - 1)))
    mutated = bytearray(body)
    if mutated:
        mutated[flip] ^= data.draw(st.integers(1, 255))
    for candidate in (body, body[:cut], bytes(mutated)):
        _same_as_the_general_path(version, frame[0] & 0x0F, candidate)
    if publish.properties != NO_PROPERTIES or not publish.topic:
        return
    assert decode_publish_plain(bytearray(body), 0, len(body), frame[0] & 0x0F, version) == publish


@settings(DEFAULT, max_examples=300)
@given(st.sampled_from((MQTT_3_1_1, MQTT_5)), st.integers(0, 15), st.binary(max_size=40))
def test_the_plain_publish_reader_declines_what_it_cannot_read(version, flags, body) -> None:
    _same_as_the_general_path(version, flags, body)
