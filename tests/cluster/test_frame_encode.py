"""The hand-written frame encoder (``logd.cluster.frame_encode``) writes, byte for byte, what
protobuf serializes for ``codec.encode_frame`` -- every message kind, negative and large
values, empty and non-ASCII group names, memoryview data -- so a peer of any build parses
it; what it writes decodes back to the messages. And the decoder of those frames
(``rpc_wire.parse_raft_frame`` + ``codec.decode_frame``), fuzzed with damaged frames:
messages or one InvalidRequestError, never another exception. A few hundred cases by
default; ``-m soak`` runs many more."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.cluster.codec import GroupMessage, decode_frame, decode_losses, encode_frame
from logd.cluster.frame_encode import HEADER_ROOM, encode_frame_bytes
from logd.cluster.rpc_wire import parse_raft_frame
from logd.errors import InvalidRequestError
from replication import (
    AppendRequest,
    AppendResponse,
    ConfState,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    Message,
    Snapshot,
    SnapshotMeta,
    SnapshotRequest,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)

DEFAULT = settings(
    max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
SOAK = settings(DEFAULT, max_examples=5_000)
SRC, DST = 1, 2

_i64 = st.one_of(st.integers(-2, 300), st.integers(-(1 << 63), (1 << 63) - 1))
_group = st.text(max_size=12)
_data = st.binary(max_size=40)


@st.composite
def _entry(draw: st.DrawFn) -> Entry:
    data = draw(_data)
    view = draw(st.booleans())
    kind = draw(st.sampled_from(list(EntryKind)))
    return Entry(draw(_i64), draw(_i64), draw(_i64), kind, memoryview(data) if view else data)


def _messages(src: int, dst: int) -> st.SearchStrategy[Message]:
    conf = st.builds(ConfState.of, st.lists(st.integers(0, 9), max_size=3))
    snapshot = st.builds(Snapshot, st.builds(SnapshotMeta, _i64, _i64, conf), _data)
    b = st.booleans()
    return st.one_of(
        st.builds(AppendRequest, _i64, st.just(src), st.just(dst), _i64, _i64,
                  st.lists(_entry(), max_size=3).map(tuple), _i64),
        st.builds(AppendResponse, _i64, st.just(src), st.just(dst), _i64, b, _i64, _i64),
        st.builds(Heartbeat, _i64, st.just(src), st.just(dst), _i64, b),
        st.builds(HeartbeatResponse, _i64, st.just(src), st.just(dst), b),
        st.builds(VoteRequest, _i64, st.just(src), st.just(dst), _i64, _i64, b, b),
        st.builds(VoteResponse, _i64, st.just(src), st.just(dst), b, b),
        st.builds(SnapshotRequest, _i64, st.just(src), st.just(dst), snapshot),
        st.builds(TimeoutNow, _i64, st.just(src), st.just(dst)),
    )  # fmt: skip


#: (src, dst) pairs: the defaults (left out of the bytes), small ids, the largest int32.
_PAIRS = [(0, 0), (SRC, DST), ((1 << 31) - 1, 5)]
_MESSAGES = {pair: st.lists(st.tuples(_group, _messages(*pair)), max_size=6) for pair in _PAIRS}


@st.composite
def _frames(
    draw: st.DrawFn,
) -> tuple[int, int, list[GroupMessage], list[tuple[str, int]]]:
    src, dst = draw(st.sampled_from(_PAIRS))
    messages = draw(_MESSAGES[(src, dst)])
    losses = draw(st.lists(st.tuples(_group, _i64), max_size=2))
    return src, dst, messages, losses


def _check_same_bytes(
    src: int, dst: int, messages: list[GroupMessage], losses: list[tuple[str, int]]
) -> None:
    ours = encode_frame_bytes(src, dst, messages, losses)
    assert ours[:HEADER_ROOM] == bytes(HEADER_ROOM)
    assert bytes(ours[HEADER_ROOM:]) == encode_frame(src, dst, messages, losses).SerializeToString()


@DEFAULT
@given(_frames())
def test_the_bytes_are_protobufs(
    frame: tuple[int, int, list[GroupMessage], list[tuple[str, int]]],
) -> None:
    _check_same_bytes(*frame)


@pytest.mark.soak
@SOAK
@given(_frames())
def test_the_bytes_are_protobufs_soak(
    frame: tuple[int, int, list[GroupMessage], list[tuple[str, int]]],
) -> None:
    _check_same_bytes(*frame)


def test_a_leaders_frame_round_trips() -> None:
    """The hot kinds, as a leader and its followers send them, decode to what was sent."""
    batch = bytearray(b"r" * 170)
    appends: list[GroupMessage] = [
        (f"t-{p}", AppendRequest(4, SRC, DST, 1_000_000 + p, 4,
                                 (Entry(4, 1_000_001 + p, 1_000_009 + p, EntryKind.NORMAL,
                                        memoryview(batch)),), 999_999))
        for p in range(3)
    ]  # fmt: skip
    answers: list[GroupMessage] = [("t-0", AppendResponse(4, SRC, DST, -1, True, -1, 0))]
    beats: list[GroupMessage] = [("ä", Heartbeat(4, SRC, DST, 7, True))]
    wire = parse_raft_frame(bytes(encode_frame_bytes(SRC, DST, appends + beats + answers,
                                                     [("t-1", 5)])[HEADER_ROOM:]))  # fmt: skip
    got = decode_frame(wire)
    assert got == appends + answers + beats  # full messages first, then the heartbeats
    assert bytes(got[0][1].entries[0].data) == bytes(batch)  # type: ignore[union-attr]
    assert decode_losses(wire) == [("t-1", 5)]


def _decode(payload: bytes) -> list[GroupMessage]:
    return decode_frame(parse_raft_frame(payload))


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    src, dst, messages, losses = draw(_frames())
    raw = bytearray(encode_frame_bytes(src, dst, messages, losses)[HEADER_ROOM:])
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        what = draw(st.sampled_from(["flip", "cut", "insert"]))
        if what == "flip":
            raw[at] ^= draw(st.integers(1, 255))
        elif what == "cut":
            del raw[at:]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(raw)


def _check_decoder(payload: bytes) -> None:
    try:
        messages = _decode(payload)
    except InvalidRequestError as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(group, str) for group, _ in messages)


@DEFAULT
@given(st.one_of(_damaged(), st.binary(max_size=200)))
def test_the_decoder_takes_damaged_frames(payload: bytes) -> None:
    _check_decoder(payload)


@pytest.mark.soak
@SOAK
@given(st.one_of(_damaged(), st.binary(max_size=200)))
def test_the_decoder_takes_damaged_frames_soak(payload: bytes) -> None:
    _check_decoder(payload)
