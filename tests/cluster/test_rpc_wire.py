"""The Raft TCP framing (``logd.cluster.rpc_wire``), fuzzed: frames survive any split of the
stream; a length past the bound is refused from its header, before its bytes are waited
for or kept; arbitrary bytes give frames or one InvalidRequestError line, never another
exception and never a buffer past one frame's bound. A few hundred cases by default;
``-m soak`` runs many more."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.cluster.codec import encode_frame
from logd.cluster.rpc_wire import (
    HEADER_BYTES,
    MAX_FRAMES_PER_FEED,
    FrameDecoder,
    decode_hello,
    encode_hello,
    frame,
    parse_raft_frame,
)
from logd.errors import InvalidRequestError
from replication import Heartbeat

LIMIT = 4096
DEFAULT = settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
SOAK = settings(DEFAULT, max_examples=30_000)

_payloads = st.lists(st.binary(max_size=300), max_size=8)
_cuts = st.lists(st.integers(0, 5000), max_size=6)


def _feed_split(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        got = decoder.feed(data[start:end])
        while got:
            out += got
            got = decoder.feed(b"") if len(got) == MAX_FRAMES_PER_FEED else []
        assert decoder.buffered <= HEADER_BYTES + LIMIT
    return out


def _round_trip(payloads: list[bytes], cuts: list[int]) -> None:
    decoder = FrameDecoder(LIMIT)
    assert _feed_split(decoder, b"".join(frame(p) for p in payloads), cuts) == payloads
    assert decoder.buffered == 0


def _garbage(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(LIMIT)
    try:
        frames = _feed_split(decoder, data, cuts)
    except InvalidRequestError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for payload in frames:  # what a listener does with each
        try:
            parse_raft_frame(payload)
        except InvalidRequestError as exc:
            assert "\n" not in exc.message


@DEFAULT
@given(_payloads, _cuts)
def test_frames_come_back_whole_however_the_stream_is_cut(
    payloads: list[bytes], cuts: list[int]
) -> None:
    _round_trip(payloads, cuts)


@DEFAULT
@given(st.binary(max_size=2000), _cuts)
def test_arbitrary_bytes_give_frames_or_one_clear_error(data: bytes, cuts: list[int]) -> None:
    _garbage(data, cuts)


@pytest.mark.soak
@SOAK
@given(st.binary(max_size=20_000), _cuts)
def test_arbitrary_bytes_soak(data: bytes, cuts: list[int]) -> None:
    _garbage(data, cuts)


@pytest.mark.soak
@SOAK
@given(_payloads, _cuts)
def test_frames_soak(payloads: list[bytes], cuts: list[int]) -> None:
    _round_trip(payloads, cuts)


@DEFAULT
@given(st.integers(LIMIT + 1, 2**32 - 1))
def test_a_length_past_the_limit_is_refused_from_its_header(size: int) -> None:
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(InvalidRequestError, match="past the limit"):
        decoder.feed(size.to_bytes(4, "big") + b"x" * 10)
    assert decoder.buffered <= HEADER_BYTES + 10  # nothing was allocated for the claim


def test_many_empty_frames_come_out_in_bounded_lists() -> None:
    decoder = FrameDecoder(LIMIT)
    first = decoder.feed(frame(b"") * (MAX_FRAMES_PER_FEED + 3))
    assert len(first) == MAX_FRAMES_PER_FEED
    assert decoder.feed(b"") == [b""] * 3


def test_a_hello_and_a_raft_frame_read_back() -> None:
    decoder = FrameDecoder(LIMIT)
    raft = encode_frame(1, 2, [("g", Heartbeat(term=3, src=1, dst=2, commit=7))])
    hello, body = decoder.feed(encode_hello("cluster-x", 1) + frame(raft.SerializeToString()))
    assert decode_hello(hello) == ("cluster-x", 1)
    assert parse_raft_frame(body) == raft
    with pytest.raises(InvalidRequestError, match="RaftHello"):
        decode_hello(b"\xff\xff\xff")
