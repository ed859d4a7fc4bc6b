"""The produce path's fast check gives exactly ``header.validate_batch``'s verdicts."""

from __future__ import annotations

import random
import struct

import pytest

from logd.errors import LogdError
from logd.records.header import ATTR_CONTROL, rewrite_crc, validate_batch
from logd.storage.batches import check_batch
from tests.storage.batches import make_batch

MAX = 1000


def verdict(check: object, buf: bytearray) -> tuple[str, str] | tuple[int, int, int]:
    try:
        if check is validate_batch:
            header = validate_batch(buf, max_size=MAX)
            return header.size, header.last_offset_delta, header.max_timestamp
        return check_batch(buf, MAX)
    except LogdError as exc:
        return type(exc).__name__, str(exc)


def mutants(rng: random.Random) -> bytearray:
    buf = make_batch(rng.randint(1, 4), rng.randint(61, 1100), seed=rng.getrandbits(16))
    kind = rng.randrange(7)
    if kind == 0:
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del buf[rng.randrange(len(buf)) :]
    elif kind == 2:  # a header field rewritten, CRC made right again
        field = rng.choice([(8, ">i"), (16, ">b"), (23, ">i"), (57, ">i"), (21, ">h")])
        value = rng.choice([-1, 0, 1, 2, 3, 49, 10**6 if field[1] == ">i" else 100])
        struct.pack_into(field[1], buf, field[0], value)
        if field[0] >= 21:
            rewrite_crc(buf)
    elif kind == 3:  # no records: legal only in a control batch
        struct.pack_into(">i", buf, 57, 0)
        struct.pack_into(">h", buf, 21, rng.choice([0, ATTR_CONTROL]))
        rewrite_crc(buf)
    elif kind == 4:
        buf += b"\x00" * rng.randint(1, 9)
    return buf


def test_the_fast_check_agrees_with_validate_batch() -> None:
    rng = random.Random(11)
    for _ in range(4000):
        buf = mutants(rng)
        assert verdict(check_batch, buf) == verdict(validate_batch, buf), bytes(buf[:61]).hex()


@pytest.mark.parametrize("size", [0, 12, 60])
def test_short_buffers_are_corrupt(size: int) -> None:
    assert verdict(check_batch, bytearray(size)) == verdict(validate_batch, bytearray(size))
