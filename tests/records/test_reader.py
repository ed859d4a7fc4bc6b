"""Framing: BatchReader over a stream, split_batches over a fetch buffer."""

from __future__ import annotations

import random
import struct

import pytest

from logd.errors import CorruptRecordError, MessageTooLargeError, RecordListTooLargeError
from logd.records import (
    NEED_DATA,
    BatchReader,
    Compression,
    build_value_batch,
    decode_batch,
    split_batches,
)

T0 = 1_700_000_000_000
BATCHES = [
    build_value_batch([b"x" * n] * (n % 7 + 1), T0, base_offset=n, compression=codec)
    for n, codec in (
        (1, Compression.NONE),
        (300, Compression.LZ4),
        (5000, Compression.GZIP),
        (2000, Compression.NONE),
    )
]
STREAM = b"".join(BATCHES)


def _drain(reader: BatchReader) -> list[bytes]:
    out = []
    while (batch := reader.next_batch()) is not NEED_DATA:
        assert isinstance(batch, memoryview)
        out.append(bytes(batch))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_any_chunking_yields_the_same_batches(seed: int) -> None:
    rng = random.Random(seed)
    reader = BatchReader()
    got: list[bytes] = []
    pos = 0
    while pos < len(STREAM):
        step = rng.choice([1, 2, 5, 17, 100, 4096])
        reader.feed(STREAM[pos : pos + step])
        pos += step
        got += _drain(reader)
    assert got == BATCHES
    assert reader.buffered_bytes == 0


def test_byte_by_byte() -> None:
    reader = BatchReader()
    got: list[bytes] = []
    for i in range(len(STREAM)):
        reader.feed(STREAM[i : i + 1])
        got += _drain(reader)
    assert got == BATCHES


def test_returned_views_survive_later_feeds() -> None:
    reader = BatchReader()
    reader.feed(bytearray(BATCHES[0] + BATCHES[1][:20]))
    first = reader.next_batch()
    assert isinstance(first, memoryview)
    reader.feed(BATCHES[1][20:])
    second = reader.next_batch()
    assert isinstance(second, memoryview)
    assert bytes(first) == BATCHES[0] and bytes(second) == BATCHES[1]
    assert decode_batch(first).base_offset == 1


def test_fed_bytearrays_are_copied() -> None:
    reader = BatchReader()
    buf = bytearray(BATCHES[0])
    reader.feed(buf)
    buf[:] = bytes(len(buf))
    batch = reader.next_batch()
    assert isinstance(batch, memoryview) and bytes(batch) == BATCHES[0]


def test_an_oversized_batch_is_refused_as_soon_as_its_length_is_seen() -> None:
    reader = BatchReader(max_batch_bytes=1000, max_buffer_bytes=4000)
    assert len(BATCHES[3]) > 4000
    reader.feed(BATCHES[3][:17])  # the length is visible; the body never arrives
    with pytest.raises(MessageTooLargeError, match="1000-byte limit"):
        reader.next_batch()


def test_the_buffer_is_bounded() -> None:
    reader = BatchReader(max_batch_bytes=100, max_buffer_bytes=200)
    reader.feed(bytes(150))
    with pytest.raises(RecordListTooLargeError):
        reader.feed(bytes(51))


def test_max_batch_cannot_exceed_the_buffer() -> None:
    with pytest.raises(ValueError, match="max_batch_bytes"):
        BatchReader(max_batch_bytes=2, max_buffer_bytes=1)


@pytest.mark.parametrize(
    ("garbage", "error"),
    [
        (struct.pack(">qi", 0, 48) + bytes(60), "below the 49-byte header"),
        (struct.pack(">qi", 0, -1) + bytes(60), "below"),
        (struct.pack(">qiib", 0, 100, 0, 1) + bytes(100), "magic 1"),
    ],
)
def test_impossible_frames_are_corrupt(garbage: bytes, error: str) -> None:
    reader = BatchReader()
    reader.feed(BATCHES[0] + garbage)
    assert bytes(reader.next_batch()) == BATCHES[0]  # type: ignore[arg-type]
    with pytest.raises(CorruptRecordError, match=error):
        reader.next_batch()
    with pytest.raises(CorruptRecordError, match=error):
        split_batches(BATCHES[0] + garbage)


def test_split_reports_a_partial_tail_not_corruption() -> None:
    for cut in (1, 11, 12, 16, 17, 60, len(BATCHES[3]) - 1):
        split = split_batches(STREAM[: len(STREAM) - len(BATCHES[3]) + cut])
        assert [bytes(b) for b in split.batches] == BATCHES[:3]
        assert split.partial_tail == cut
    whole = split_batches(STREAM)
    assert [bytes(b) for b in whole.batches] == BATCHES and whole.partial_tail == 0
    assert split_batches(b"") == ([], 0)


def test_split_is_zero_copy() -> None:
    buf = bytearray(STREAM)
    first = split_batches(buf).batches[0]
    buf[0] = 0x7F
    assert first[0] == 0x7F


def test_split_enforces_max_batch_bytes_when_asked() -> None:
    with pytest.raises(MessageTooLargeError):
        split_batches(STREAM, max_batch_bytes=4000)
