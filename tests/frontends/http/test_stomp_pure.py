"""STOMP's pure parts: the frame parser and encoder, the ack window and commit points, the
start of a subscription."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.frontends.http.stomp.acks import AckTracker
from logd.frontends.http.stomp.frames import (
    Frame,
    FrameError,
    FrameParser,
    FrameTooLarge,
    encode,
)
from logd.frontends.http.stomp.start import StartAt, parse_start

_names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10)
_frames = st.builds(
    Frame,
    st.sampled_from(["SEND", "SUBSCRIBE", "ACK", "MESSAGE", "ERROR", "CONNECT"]),
    st.lists(st.tuples(_names, st.text(st.characters(exclude_categories=("Cs",)), max_size=20)),
             max_size=5).map(tuple),
    st.binary(max_size=60),
)  # fmt: skip


def _fits_unescaped(frame: Frame) -> bool:
    """CONNECT headers are not escaped: a name with ':' or a newline cannot be sent."""
    return frame.command != "CONNECT" or all(
        ":" not in k and not set(k + v) & {"\n", "\r"} for k, v in frame.headers
    )


@given(st.lists(_frames, min_size=1, max_size=5), st.lists(st.integers(1, 30), max_size=40),
       st.booleans())  # fmt: skip
def test_frames_survive_encoding_and_any_split(
    frames: list[Frame], cuts: list[int], beats: bool
) -> None:
    frames = [f for f in frames if _fits_unescaped(f)]
    data = b"".join(encode(f.command, f.headers, f.body) + (b"\n\r\n" if beats else b"")
                    for f in frames)  # fmt: skip
    parser = FrameParser(max_frame_bytes=1 << 16)
    got: list[Frame] = []
    position = 0
    for size in cuts:
        got += parser.feed(data[position : position + size])
        position += size
    got += parser.feed(data[position:])
    expected = [
        Frame(f.command, f.headers + ((("content-length", str(len(f.body))),) if f.body else ()),
              f.body)
        for f in frames
    ]  # fmt: skip
    assert got == expected
    assert parser.heartbeats == (2 * len(frames) if beats else 0)


def test_a_body_without_content_length_ends_at_the_nul_and_escapes_are_read() -> None:
    parser = FrameParser(1024)
    (frame,) = parser.feed(b"SEND\r\ndestination:/topic/a\\cb\nx\\\\y:1\\n2\r\n\r\nhi\0\n")
    assert frame.headers == (("destination", "/topic/a:b"), ("x\\y", "1\n2"))
    assert frame.body == b"hi" and frame.get("nope") is None


def test_the_first_value_of_a_repeated_header_wins() -> None:
    (frame,) = FrameParser(1024).feed(b"SEND\na:1\na:2\n\n\0")
    assert frame.get("a") == "1"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"SEND\ncontent-length:5000\n\n", FrameTooLarge),
        (b"SEND\n\n" + b"x" * 2000, FrameTooLarge),
        (b"SEND\n" + b"h:" + b"x" * 2000, FrameTooLarge),
        (b"SEND\ncontent-length:2\n\nabc\0", FrameError),
        (b"SEND\ncontent-length:-1\n\n\0", FrameError),
        (b"SEND\nno colon\n\n\0", FrameError),
        (b"SEND\na:\\t\n\n\0", FrameError),
        (b"FLY\n\n\0", FrameError),
        (b"SEND\n\xff:1\n\n\0", FrameError),
        (b"SEND\n" + b"a:1\n" * 200 + b"\n\0", FrameError),
    ],
)
def test_bad_frames_raise(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        FrameParser(1024).feed(data)


def test_client_individual_commits_stop_before_the_first_unacknowledged() -> None:
    acks = AckTracker("client-individual")
    acks.start(0, 10)
    for offset in (10, 11, 12):
        acks.delivered(f"a{offset}", 0, offset)
    assert acks.outstanding == 3 and acks.commit_points() == {0: 10}
    assert acks.ack("a11") and not acks.ack("a11")
    assert acks.commit_points() == {0: 10}
    assert acks.ack("a10")
    assert acks.commit_points() == {0: 12}
    assert acks.nack("a12")
    assert acks.outstanding == 0 and acks.commit_points() == {0: 12}


def test_client_acks_are_cumulative_and_auto_commits_what_was_read() -> None:
    acks = AckTracker("client")
    acks.start(0, 0)
    acks.start(1, 5)
    acks.delivered("x", 0, 0)
    acks.delivered("y", 1, 5)
    acks.delivered("z", 0, 1)
    before = acks.changes
    assert acks.ack("y")
    assert acks.changes > before
    assert acks.outstanding == 1 and acks.commit_points() == {0: 1, 1: 6}
    auto = AckTracker("auto")
    auto.start(0, 3)
    auto.delivered(None, 0, 3)
    auto.read_to(0, 9)
    assert auto.outstanding == 0 and auto.commit_points() == {0: 9}
    with pytest.raises(ValueError, match="ack"):
        AckTracker("sometimes")


@pytest.mark.parametrize(
    ("text", "start"),
    [
        (None, StartAt("next")),
        ("first", StartAt("first")),
        ("Beginning", StartAt("first")),
        ("last", StartAt("last")),
        ("end", StartAt("next")),
        ("42", StartAt("offset", offset=42)),
        ("timestamp=1700000000000", StartAt("timestamp", timestamp_ms=1700000000000)),
        ("2024-01-02T03:04:05.678Z", StartAt("timestamp", timestamp_ms=1704164645678)),
    ],
)
def test_where_a_subscription_starts(text: str | None, start: StartAt) -> None:
    assert parse_start(text) == start


@pytest.mark.parametrize("text", ["-1", "soon", "timestamp=x", "1" * 30, ""])
def test_a_bad_start_says_why(text: str) -> None:
    with pytest.raises(ValueError, match="x-offset"):
        parse_start(text)
