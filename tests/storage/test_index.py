"""The indexes' pure parts: binary search over bytes, entries in memory (no files touched)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from logd.storage.index import OFFSET_ENTRY, OffsetIndex, floor_search
from logd.storage.timeindex import TIME_ENTRY, TimeIndex

NOWHERE = Path("/nonexistent/00000000000000000000.index")


def test_floor_search_agrees_with_a_linear_scan() -> None:
    rng = random.Random(7)
    for _ in range(300):
        keys = sorted(rng.sample(range(10_000), rng.randint(0, 40)))
        buf = b"".join(OFFSET_ENTRY.pack(key, key * 3) for key in keys)
        target = rng.randint(-5, 10_005)
        expected = max((slot for slot, key in enumerate(keys) if key <= target), default=-1)
        assert floor_search(buf, len(keys), OFFSET_ENTRY, 0, target) == expected
        # Searching the second field finds the same slot: positions rise with offsets.
        assert floor_search(buf, len(keys), OFFSET_ENTRY, 1, target * 3) == expected


def test_offset_index_lookup_returns_the_floor_position() -> None:
    index = OffsetIndex(NOWHERE, 100, entries_max=10)
    assert index.lookup(150) == 0  # nothing indexed: walk from the segment start
    for offset, position in [(105, 4200), (120, 8400), (160, 12600)]:
        index.append(offset, position)
    assert index.lookup(104) == 0
    assert index.lookup(105) == 4200
    assert index.lookup(159) == 8400
    assert index.lookup(10**9) == 12600
    assert index.floor_position(8399) == 4200
    assert index.floor_position(8400) == 8400
    assert index.last() == (160, 12600)


def test_offset_index_truncates_by_position_and_reports_fullness() -> None:
    index = OffsetIndex(NOWHERE, 0, entries_max=3)
    for offset, position in [(5, 100), (9, 200), (15, 300)]:
        index.append(offset, position)
    assert index.is_full
    index.truncate_to_position(200)  # the batch at 200 and later are gone
    assert len(index) == 1 and index.last() == (5, 100)
    assert not index.is_full


def test_offset_index_rejects_entries_that_do_not_rise() -> None:
    index = OffsetIndex(NOWHERE, 0, entries_max=3)
    index.append(5, 100)
    with pytest.raises(AssertionError):
        index.append(5, 200)
    with pytest.raises(AssertionError):
        index.append(6, 100)


def test_time_index_keeps_only_rising_timestamps() -> None:
    index = TimeIndex(NOWHERE, 0, entries_max=10)
    index.maybe_append(-1, 0)  # no timestamp: never indexed
    index.maybe_append(1000, 0)
    index.maybe_append(1000, 4)  # not larger: ignored
    index.maybe_append(900, 5)  # smaller: ignored
    index.maybe_append(2000, 8)
    assert index.data == TIME_ENTRY.pack(1000, 0) + TIME_ENTRY.pack(2000, 8)
    assert index.lookup(999) is None
    assert index.lookup(1500) == 0
    assert index.lookup(2000) == 8
    index.truncate_to_offset(8)
    assert index.last() == (1000, 0)


def test_entries_are_big_endian_as_kafka_writes_them() -> None:
    index = OffsetIndex(NOWHERE, 1000, entries_max=4)
    index.append(1001, 0x01020304)
    assert index.data == struct.pack(">II", 1, 0x01020304)
