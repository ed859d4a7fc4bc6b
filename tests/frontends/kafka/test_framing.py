"""The sans-I/O framing: frames cut from any chunking; the size checked before allocation."""

from __future__ import annotations

import itertools
import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.frontends.kafka.framing import NEED_DATA, FrameDecoder, FrameTooLargeError, frame


def _wire(payloads: list[bytes]) -> bytes:
    return b"".join(b"".join(frame(p)) for p in payloads)


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
)
def test_frames_come_out_whole_and_in_order_whatever_the_chunking(
    payloads: list[bytes], cuts: list[int]
) -> None:
    data = _wire(payloads)
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    decoder = FrameDecoder(max_frame_bytes=1000)
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        decoder.feed(data[a:b])
        while (f := decoder.next_frame()) is not NEED_DATA:
            assert isinstance(f, bytes)
            out.append(f)
    assert out == payloads
    assert decoder.buffered == 0


def test_a_size_over_the_limit_fails_before_its_body_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    decoder.feed(struct.pack(">i", 2**31 - 1))
    with pytest.raises(FrameTooLargeError, match=r"socket\.request\.max\.bytes"):
        decoder.next_frame()
    assert decoder.buffered == 0  # nothing of the claimed size was kept, let alone reserved


def test_a_negative_size_is_refused() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    decoder.feed(struct.pack(">i", -5) + b"xx")
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_the_limit_itself_is_allowed() -> None:
    decoder = FrameDecoder(max_frame_bytes=16)
    decoder.feed(b"".join(frame(b"x" * 16)))
    assert decoder.next_frame() == b"x" * 16


def test_a_truncated_frame_waits_for_more() -> None:
    decoder = FrameDecoder(max_frame_bytes=100)
    decoder.feed(struct.pack(">i", 10) + b"abc")
    assert decoder.next_frame() is NEED_DATA
    assert decoder.mid_frame
    decoder.feed(b"defghij")
    assert decoder.next_frame() == b"abcdefghij"


def test_a_big_frame_is_copied_once_whatever_the_reads() -> None:
    """A 4 MiB Produce arriving in 64 KiB reads: the reads are kept as they came and the
    frame joined once -- a growing bytearray copied every read in and the frame out (two
    frame-sized allocations, more while it grew)."""
    payload = bytes(range(256)) * (4 << 12)
    data = b"".join(frame(payload))
    reads = [data[i : i + (64 << 10)] for i in range(0, len(data), 64 << 10)]
    decoder = FrameDecoder(max_frame_bytes=8 << 20)
    tracemalloc.start()
    try:
        for read in reads:
            decoder.feed(read)
        got = decoder.next_frame()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == payload and decoder.buffered == 0 and not decoder.mid_frame
    assert peak < len(payload) * 1.1, f"peak {peak} bytes for a {len(payload)}-byte frame"


def test_mid_frame_and_buffered_count_the_size_prefix_once_taken() -> None:
    decoder = FrameDecoder(max_frame_bytes=64)
    decoder.feed(struct.pack(">i", 10) + b"abc")
    assert decoder.next_frame() is NEED_DATA
    assert decoder.mid_frame and decoder.buffered == 7
    decoder.feed(bytearray(b"defghij") + b"\x00")
    assert decoder.next_frame() == b"abcdefghij"
    assert decoder.mid_frame and decoder.buffered == 1


def test_a_frame_trickled_a_byte_a_read_costs_about_its_size() -> None:
    """A peer sending one byte per TCP segment: kept as one memoryview per read, 256 KiB
    cost ~50 MiB of views (~200 bytes a byte); gathered, about the frame's size."""
    payload = bytes(range(256)) * 1024
    data = b"".join(frame(payload))
    decoder = FrameDecoder(max_frame_bytes=1 << 20)
    tracemalloc.start()
    try:
        for i in range(len(data)):
            decoder.feed(data[i : i + 1])
        _, peak = tracemalloc.get_traced_memory()
        got = decoder.next_frame()
    finally:
        tracemalloc.stop()
    assert got == payload and decoder.buffered == 0 and not decoder.mid_frame
    assert peak < len(payload) * 2, f"peak {peak} bytes for a {len(payload)}-byte frame"
