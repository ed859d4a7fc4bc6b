"""The recovery scanner over bytes: valid prefixes, typed stops, fuzzed with damage."""

from __future__ import annotations

import random

import crc32c
import pytest

from logd.records.header import CRC_START, parse_header
from logd.storage.scan import Stop, scan
from tests.storage.batches import make_batch, stamped


def build_log(rng: random.Random, count: int, base_offset: int = 0) -> tuple[bytes, list[int]]:
    """``count`` batches as a leader writes them; returns the bytes and batch boundaries."""
    parts, bounds, offset, epoch = [], [0], base_offset, rng.randint(0, 3)
    for index in range(count):
        records = rng.randint(1, 5)
        epoch += rng.random() < 0.2
        batch = make_batch(records, rng.randint(61, 400), seed=rng.getrandbits(32) + index)
        parts.append(stamped(batch, offset, epoch))
        offset += records
        bounds.append(bounds[-1] + len(batch))
    return b"".join(parts), bounds


def assert_valid_prefix(buf: bytes, original: bytes, bounds: list[int], damage_at: int) -> None:
    """What recovery promises: a run of whole, CRC-valid batches from the start that keeps
    every original batch lying wholly before the first damaged byte."""
    result = scan(buf)
    position = 0
    for info in result.batches:
        assert info.position == position
        header = parse_header(buf, position)
        assert header.size == info.size
        assert crc32c.crc32c(buf[position + CRC_START : position + info.size]) == header.crc
        position += info.size
    assert result.end == position <= len(buf)
    intact = [end for end in bounds[1:] if end <= damage_at]
    assert len(result.batches) >= len(intact)
    assert buf[: intact[-1] if intact else 0] == original[: intact[-1] if intact else 0]
    if result.stop is Stop.END:
        assert result.end == len(buf)


def test_a_clean_run_scans_to_the_end_with_offsets_and_epochs() -> None:
    data, bounds = build_log(random.Random(1), 12, base_offset=500)
    result = scan(data, base_offset=500, next_offset=500)
    assert result.stop is Stop.END and result.end == len(data)
    assert [info.position for info in result.batches] == bounds[:-1]
    assert result.batches[0].base_offset == 500
    for before, after in zip(result.batches, result.batches[1:], strict=False):
        assert after.base_offset == before.last_offset + 1


def test_a_torn_tail_is_incomplete_with_the_bytes_it_needs() -> None:
    data, bounds = build_log(random.Random(2), 3)
    result = scan(data[: bounds[2] + 30])
    assert result.stop is Stop.INCOMPLETE and result.end == bounds[2]
    assert result.need == bounds[3] - bounds[2]
    assert scan(data[: bounds[2] + 5]).need == 12  # not even the length is there


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"next_offset": 1}, "below"),
        ({"min_epoch": 99}, "epoch"),
        ({"base_offset": -(1 << 31) - 5}, "too far"),
    ],
)
def test_a_batch_that_does_not_continue_the_log_is_corrupt(
    kwargs: dict[str, int], reason: str
) -> None:
    batch = stamped(make_batch(2), 0, 5)
    result = scan(batch, **kwargs)
    assert result.stop is Stop.CORRUPT and result.end == 0 and reason in result.reason


def test_a_bad_crc_or_magic_or_length_is_corrupt() -> None:
    batch = make_batch(1, 100)
    flipped = bytearray(batch)
    flipped[80] ^= 1
    assert scan(flipped).reason == "CRC-32C mismatch"
    magic = bytearray(batch)
    magic[16] = 1
    assert "magic" in scan(magic).reason
    short = bytearray(batch)
    short[8:12] = (10).to_bytes(4, "big")
    assert "length" in scan(short).reason


def test_scanning_accepts_bytes_bytearray_and_memoryview_from_any_start() -> None:
    data, bounds = build_log(random.Random(3), 4)
    for buf in (data, bytearray(data), memoryview(data)):
        result = scan(buf, bounds[1], next_offset=0)
        assert result.stop is Stop.END and len(result.batches) == 3


def test_fuzz_damaged_logs_keep_a_valid_prefix() -> None:
    """10,000 seeded cases: flips, cuts, inserts, overwrites and zero-filled tails."""
    rng = random.Random(20240611)
    for case in range(10_000):
        original, bounds = build_log(rng, rng.randint(1, 8))
        buf = bytearray(original)
        kind = case % 5
        if kind == 0:  # bit flips anywhere, header fields included
            spots = [rng.randrange(len(buf)) for _ in range(rng.randint(1, 3))]
            for spot in spots:
                buf[spot] ^= 1 << rng.randrange(8)
            damage_at = min(spots)
        elif kind == 1:  # a torn write
            damage_at = rng.randrange(len(buf) + 1)
            del buf[damage_at:]
        elif kind == 2:  # garbage inserted
            damage_at = rng.randrange(len(buf) + 1)
            buf[damage_at:damage_at] = rng.randbytes(rng.randint(1, 80))
        elif kind == 3:  # a range overwritten
            damage_at = rng.randrange(len(buf))
            buf[damage_at : damage_at + rng.randint(1, 64)] = rng.randbytes(64)
        else:  # a preallocated or zero-filled tail after the data
            damage_at = len(buf)
            buf += bytes(rng.randint(1, 200))
        if bytes(buf[damage_at:]) == original[damage_at:] and kind != 1:
            damage_at = len(buf)  # the mutation changed nothing
        assert_valid_prefix(bytes(buf), original, bounds, damage_at)


def test_fuzz_random_bytes_never_raise() -> None:
    rng = random.Random(99)
    for _ in range(2000):
        buf = rng.randbytes(rng.randint(0, 300))
        if rng.random() < 0.5 and len(buf) >= 17:
            # Plausible length and magic, so the scan gets past the first checks.
            buf = (
                buf[:8]
                + (len(buf) - 12).to_bytes(4, "big", signed=True)
                + buf[12:16]
                + b"\x02"
                + buf[17:]
            )
        result = scan(buf, min_epoch=rng.randint(-1, 3))
        assert result.end <= len(buf)
        assert result.stop in (Stop.END, Stop.INCOMPLETE, Stop.CORRUPT)
