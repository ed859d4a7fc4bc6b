"""Fuzzing: random and mutated bytes never make the decoder or the framing misbehave.

For any input the decoder either decodes it or raises CorruptRecordError
(UnsupportedCompressionTypeError for a codec number it cannot read); the framing raises
CorruptRecordError, or MessageTooLargeError for a length past its bound. Never IndexError,
struct.error, UnicodeDecodeError, a library's own error, MemoryError or a hang.

Most mutations then repair the batch length and the CRC, so the damage reaches the layers
behind them (record framing, varints, decompressors) instead of stopping at the CRC check.
Seeded loops: a failure names its case, and the case replays exactly.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import pytest

from logd.errors import CorruptRecordError, MessageTooLargeError, UnsupportedCompressionTypeError
from logd.records import (
    NEED_DATA,
    BatchBuilder,
    ControlType,
    TimestampType,
    accel,
    build_control_batch,
    build_pair_batch,
    decode_batch,
    decode_records,
    split_batches,
)
from logd.records.header import HEADER_SIZE, rewrite_crc
from logd.records.reader import BatchReader
from logd.records.record import Record
from tests.records.strategies import CODECS

T0 = 1_700_000_000_000
DECODER_CASES = 40_000
READER_CASES = 5_000
LIMIT = 1 << 20  # decompression bound: keeps bombs cheap


def _corpus() -> list[bytes]:
    rng = random.Random(1)
    corpus = []
    for codec in CODECS:
        for lat in (False, True):
            builder = BatchBuilder(
                compression=codec,
                timestamp_type=TimestampType.LOG_APPEND_TIME if lat else TimestampType.CREATE_TIME,
                log_append_time=T0 if lat else None,
                producer_id=3,
                producer_epoch=0,
                base_sequence=0,
                transactional=lat,
            )
            for i in range(rng.randrange(1, 12)):
                builder.append(
                    T0 + rng.randrange(-1000, 100_000),
                    None if i % 3 == 0 else rng.randbytes(rng.randrange(0, 20)),
                    None if i % 5 == 4 else rng.randbytes(rng.randrange(0, 200)) * 2,
                    [("hdr\u00e9", rng.randbytes(3)), ("n", None)] if i % 2 else (),
                )
            corpus.append(builder.build())
        corpus.append(build_pair_batch([(b"k", b"v" * 300)] * 70, T0, compression=codec))
    corpus.append(build_control_batch(ControlType.LEADER_CHANGE, b"payload", timestamp=T0))
    return corpus


CORPUS = _corpus()
INTERESTING = [0x00, 0x01, 0x02, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF]


def _flip(rng: random.Random, buf: bytearray) -> None:
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)


def _poke(rng: random.Random, buf: bytearray) -> None:
    for _ in range(rng.randrange(1, 4)):
        buf[rng.randrange(len(buf))] = rng.choice(INTERESTING)


def _cut(rng: random.Random, buf: bytearray) -> None:
    del buf[rng.randrange(len(buf)) :]


def _insert(rng: random.Random, buf: bytearray) -> None:
    i = rng.randrange(len(buf) + 1)
    buf[i:i] = rng.randbytes(rng.randrange(1, 9))


def _delete(rng: random.Random, buf: bytearray) -> None:
    i = rng.randrange(len(buf))
    del buf[i : i + rng.randrange(1, 9)]


def _duplicate(rng: random.Random, buf: bytearray) -> None:
    i = rng.randrange(len(buf))
    j = rng.randrange(len(buf) + 1)
    buf[j:j] = buf[i : i + rng.randrange(1, 40)]


def _random_body(rng: random.Random, buf: bytearray) -> None:
    del buf[HEADER_SIZE:]
    buf += rng.randbytes(rng.randrange(0, 300))
    if (
        len(buf) >= HEADER_SIZE and rng.random() < 0.5
    ):  # a small record count, so parsing goes past the count check
        struct.pack_into(">i", buf, 57, rng.randrange(0, 5))


MUTATIONS: list[Callable[[random.Random, bytearray], None]] = [
    _flip,
    _poke,
    _cut,
    _insert,
    _delete,
    _duplicate,
    _random_body,
]


def _mutant(rng: random.Random) -> bytes:
    if rng.random() < 0.05:
        return rng.randbytes(rng.randrange(0, 120))
    buf = bytearray(rng.choice(CORPUS))
    for _ in range(rng.randrange(1, 3)):
        if buf:
            rng.choice(MUTATIONS)(rng, buf)
    if len(buf) >= HEADER_SIZE and rng.random() < 0.8:
        struct.pack_into(">i", buf, 8, len(buf) - 12)  # repair the length...
        buf[16] = 2  # ...the magic...
        rewrite_crc(buf)  # ...and the CRC, to reach what lies behind them
    return bytes(buf)


def _decode_everything(buf: bytes) -> None:
    batch = decode_batch(buf, max_uncompressed_bytes=LIMIT)
    lazy: list[Record] | CorruptRecordError
    try:
        lazy = []
        for record in batch:  # the pure-Python generator
            assert isinstance(record.offset, int) and isinstance(record.timestamp, int)
            assert record.key is None or isinstance(record.key, bytes)
            assert record.value is None or isinstance(record.value, bytes)
            assert all(isinstance(k, str) for k, _ in record.headers)
            lazy.append(record)
    except CorruptRecordError as exc:
        lazy = exc
    # Differential: the implementation under test (records_impl: C or Python) agrees with
    # the generator on every input -- the same records, or CorruptRecordError for both.
    try:
        eager = batch.records()
    except CorruptRecordError:
        assert isinstance(lazy, CorruptRecordError), f"only {accel.implementation()} failed"
        raise
    assert eager == lazy, f"{accel.implementation()} decoded differently"


def test_corpus_is_valid() -> None:
    for buf in CORPUS:
        _decode_everything(buf)


@pytest.mark.parametrize("part", range(4))
def test_decoder_fuzz(part: int) -> None:
    cases = DECODER_CASES // 4
    outcomes = {"decoded": 0, "corrupt": 0, "unsupported": 0}
    for case in range(part * cases, (part + 1) * cases):
        buf = _mutant(random.Random(case))
        try:
            _decode_everything(buf)
            outcomes["decoded"] += 1
        except CorruptRecordError:
            outcomes["corrupt"] += 1
        except UnsupportedCompressionTypeError:
            outcomes["unsupported"] += 1
        except Exception as exc:
            pytest.fail(f"decoder case {case}: {type(exc).__name__}: {exc} on {buf.hex()}")
    # The fuzzer must exercise both outcomes, or it proves nothing.
    assert outcomes["decoded"] > cases // 50 and outcomes["corrupt"] > cases // 2, outcomes


def _stream(rng: random.Random) -> bytes:
    parts = [_mutant(rng) if rng.random() < 0.3 else rng.choice(CORPUS) for _ in range(3)]
    return b"".join(parts)


def test_reader_fuzz() -> None:
    frames = 0
    for case in range(READER_CASES):
        rng = random.Random(10**6 + case)
        stream = _stream(rng)
        try:
            reader = BatchReader(max_batch_bytes=1 << 16, max_buffer_bytes=1 << 20)
            got = []
            pos = 0
            while pos < len(stream):
                step = rng.choice([1, 3, 17, 61, 500, 1 << 16])
                reader.feed(stream[pos : pos + step])
                pos += step
                while (batch := reader.next_batch()) is not NEED_DATA:
                    assert isinstance(batch, memoryview)
                    got.append(bytes(batch))
            frames += len(got)
            split = split_batches(stream)
            # The stream reader and the buffer splitter agree on every whole batch.
            assert [bytes(b) for b in split.batches] == got
            assert split.partial_tail == reader.buffered_bytes
            list(decode_records(stream, include_control=True, max_uncompressed_bytes=LIMIT))
        except (CorruptRecordError, MessageTooLargeError, UnsupportedCompressionTypeError):
            pass
        except Exception as exc:
            pytest.fail(f"reader case {case}: {type(exc).__name__}: {exc} on {stream.hex()}")
    assert frames > READER_CASES
