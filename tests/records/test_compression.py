"""Codecs: Kafka's numbers and framing, round trips, and the decompression bound."""

from __future__ import annotations

import os
import zlib

import lz4.frame
import pytest
import zstandard  # in the dev extra: the tests always cover zstd

from logd.errors import CorruptRecordError, UnsupportedCompressionTypeError
from logd.records import Compression, compression
from logd.records.compression import available_codecs, compress, decompress
from tests.records.strategies import CODECS

COMPRESSED = [c for c in CODECS if c is not Compression.NONE]
TEXT = b"".join(b"log line %d: everything is fine\n" % i for i in range(2000))


def test_codecs_are_numbered_as_kafka_numbers_them() -> None:
    assert [int(c) for c in Compression] == [0, 1, 2, 3, 4]
    assert {Compression.NONE, Compression.GZIP, Compression.LZ4} <= available_codecs()


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip(codec: Compression) -> None:
    packed = compress(codec, TEXT)
    if codec is not Compression.NONE:
        assert len(packed) < len(TEXT) // 3
    assert decompress(codec, packed) == TEXT
    assert decompress(codec, memoryview(packed)) == TEXT


def test_lz4_writes_the_frame_kafka_reads() -> None:
    # Kafka's KafkaLZ4BlockInputStream: LZ4 frame magic, FLG version 01 with independent
    # blocks and no content size, BD with a 64 KiB maximum block size.
    packed = compress(Compression.LZ4, os.urandom(200_000))
    assert packed[:4] == b"\x04\x22\x4d\x18"
    flg, bd = packed[4], packed[5]
    assert flg >> 6 == 0b01, "version"
    assert flg & 0x20, "block independence"
    assert not flg & 0x08, "content size must not be stored"
    assert (bd >> 4) & 0x07 == 4, "64 KiB blocks"


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unsupported_codecs_are_a_typed_error(codec: int) -> None:
    with pytest.raises(UnsupportedCompressionTypeError):
        compress(codec, b"x")
    with pytest.raises(UnsupportedCompressionTypeError):
        decompress(codec, b"x")


def test_zstd_without_zstandard_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "_zstd", None)
    assert Compression.ZSTD not in available_codecs()
    with pytest.raises(UnsupportedCompressionTypeError, match="zstd"):
        decompress(Compression.ZSTD, b"\x28\xb5\x2f\xfd")


@pytest.mark.parametrize("codec", COMPRESSED)
def test_output_bound_stops_a_decompression_bomb(codec: Compression) -> None:
    bomb = compress(codec, bytes(8 << 20))  # 8 MiB of zeros in a few KiB
    # (snappy's ratio stops near 21:1, so its "bomb" is bigger; the bound holds all the same)
    assert len(bomb) < (512 << 10 if codec is Compression.SNAPPY else 64 << 10)
    with pytest.raises(CorruptRecordError, match="limit"):
        decompress(codec, bomb, limit=1 << 20)
    assert len(decompress(codec, bomb, limit=8 << 20)) == 8 << 20


@pytest.mark.parametrize("codec", COMPRESSED)
def test_truncated_or_extended_streams_are_corrupt(codec: Compression) -> None:
    packed = compress(codec, TEXT)
    for bad in (packed[:-1], packed[: len(packed) // 2], packed[:3], b"", packed + b"\x00junk"):
        with pytest.raises(CorruptRecordError):
            decompress(codec, bad)


def test_zstd_frames_with_and_without_a_declared_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka's Java producer streams: its frames declare no content size.
    streamer = zstandard.ZstdCompressor().compressobj()
    streamed = streamer.compress(TEXT) + streamer.flush()
    assert zstandard.frame_content_size(streamed) == -1
    assert decompress(Compression.ZSTD, streamed) == TEXT
    with pytest.raises(CorruptRecordError, match="limit"):
        decompress(Compression.ZSTD, streamed, limit=len(TEXT) - 1)
    # A declared size over the limit is refused before decoding anything.
    declared = bytearray(compress(Compression.ZSTD, bytes(1 << 20)))
    monkeypatch.setattr(zstandard.ZstdDecompressor, "decompressobj", None)
    with pytest.raises(CorruptRecordError, match="limit"):
        decompress(Compression.ZSTD, declared, limit=(1 << 20) - 1)
    monkeypatch.undo()
    # A declared size that lies (smaller than the content) cannot make it write more.
    assert declared[4] >> 5 == 0b101, "single-segment frame with a 4-byte content size"
    declared[5:9] = (1000).to_bytes(4, "little")
    with pytest.raises(CorruptRecordError):
        decompress(Compression.ZSTD, declared)


def test_gzip_reads_concatenated_members_as_java_does() -> None:
    two = compress(Compression.GZIP, b"first ") + compress(Compression.GZIP, b"second")
    assert decompress(Compression.GZIP, two) == b"first second"


def test_lz4_reads_frames_written_by_other_lz4_settings() -> None:
    # kafka-python and librdkafka write linked blocks or a content size: Kafka readers must
    # still read them, and so must we.
    for packed in (lz4.frame.compress(TEXT), lz4.frame.compress(TEXT, block_linked=True)):
        assert decompress(Compression.LZ4, packed) == TEXT


def test_garbage_is_corrupt_not_a_library_error() -> None:
    for codec in COMPRESSED:
        with pytest.raises(CorruptRecordError):
            decompress(codec, b"\x00" * 40)
    with pytest.raises(CorruptRecordError):
        decompress(Compression.GZIP, zlib.compress(TEXT))  # zlib container, not gzip
