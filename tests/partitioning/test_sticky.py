"""The producer's partitioner: explicit > key > sticky; sticky moves on when a batch is sent."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partitioning import (
    InvalidPartitionCount,
    PartitionOutOfRange,
    StickyPartitioner,
    partition_for,
)


class FixedDraws:
    """A RandomSource that returns the given values in order."""

    def __init__(self, *values: float) -> None:
        self._values = list(values)

    def random(self) -> float:
        return self._values.pop(0)


def test_explicit_partition_wins_over_key_and_sticky() -> None:
    partitioner = StickyPartitioner(random.Random(1))
    assert partitioner.choose("t", b"some-key", 3, 8) == 3
    assert partitioner.choose("t", None, 5, 8) == 5


@pytest.mark.parametrize("explicit", [-1, 8, 100])
def test_explicit_partition_outside_topic_is_rejected(explicit: int) -> None:
    partitioner = StickyPartitioner(random.Random(1))
    with pytest.raises(PartitionOutOfRange, match=r"not in \[0, 7\]"):
        partitioner.choose("t", None, explicit, 8)


@pytest.mark.parametrize("explicit", [None, 0])
def test_topic_without_partitions_is_rejected(explicit: int | None) -> None:
    partitioner = StickyPartitioner(random.Random(1))
    with pytest.raises(InvalidPartitionCount):
        partitioner.choose("t", None, explicit, 0)


@given(st.binary(max_size=32), st.integers(min_value=1, max_value=500))
def test_keyed_records_use_partition_for(key: bytes, n: int) -> None:
    partitioner = StickyPartitioner(random.Random(0))
    assert partitioner.choose("t", key, None, n) == partition_for(key, n)


def test_empty_key_is_a_key_not_null() -> None:
    partitioner = StickyPartitioner(random.Random(0))
    assert all(partitioner.choose("t", b"", None, 16) == partition_for(b"", 16) for _ in range(5))


def test_null_key_sticks_until_the_batch_is_sent() -> None:
    partitioner = StickyPartitioner(random.Random(7))
    first = partitioner.choose("t", None, None, 6)
    assert {partitioner.choose("t", None, None, 6) for _ in range(100)} == {first}
    partitioner.on_batch_sent("t", (first + 1) % 6)  # another partition's batch: no effect
    assert partitioner.choose("t", None, None, 6) == first
    partitioner.on_batch_sent("t", first)
    second = partitioner.choose("t", None, None, 6)
    assert second != first
    assert {partitioner.choose("t", None, None, 6) for _ in range(100)} == {second}


def test_topics_are_sticky_independently() -> None:
    partitioner = StickyPartitioner(random.Random(3))
    a = partitioner.choose("a", None, None, 50)
    b = partitioner.choose("b", None, None, 50)
    partitioner.on_batch_sent("a", a)
    assert partitioner.choose("b", None, None, 50) == b
    assert partitioner.choose("a", None, None, 50) != a


def _walk(seed: int, switches: int, n: int = 10) -> list[int]:
    partitioner = StickyPartitioner(random.Random(seed))
    seen = []
    for _ in range(switches):
        p = partitioner.choose("t", None, None, n)
        seen.append(p)
        partitioner.on_batch_sent("t", p)
    return seen


def test_same_seed_same_partitions() -> None:
    assert _walk(42, 200) == _walk(42, 200)
    assert _walk(42, 200) != _walk(43, 200)


def test_moves_spread_over_all_partitions() -> None:
    counts = Counter(_walk(5, 5000, 10))
    assert set(counts) == set(range(10))
    assert all(400 <= c <= 600 for c in counts.values()), counts
    walk = _walk(5, 500, 10)
    assert all(a != b for a, b in itertools.pairwise(walk))


def test_single_partition_stays_put() -> None:
    partitioner = StickyPartitioner(random.Random(1))
    for _ in range(5):
        assert partitioner.choose("t", None, None, 1) == 0
        partitioner.on_batch_sent("t", 0)


def test_only_available_partitions_are_chosen() -> None:
    partitioner = StickyPartitioner(random.Random(9))
    available = {1, 4}
    for _ in range(50):
        p = partitioner.choose("t", None, None, 6, available)
        assert p in available
        partitioner.on_batch_sent("t", p)


def test_unavailable_sticky_partition_is_replaced() -> None:
    partitioner = StickyPartitioner(random.Random(2))
    first = partitioner.choose("t", None, None, 4)
    others = set(range(4)) - {first}
    assert partitioner.choose("t", None, None, 4, others) in others


def test_shrunken_topic_gets_a_partition_in_range() -> None:
    partitioner = StickyPartitioner(FixedDraws(0.99, 0.0))
    assert partitioner.choose("t", None, None, 10) == 9
    assert partitioner.choose("t", None, None, 3) == 0


def test_sticky_bytes_switch_after_that_many_bytes() -> None:
    partitioner = StickyPartitioner(random.Random(4), sticky_bytes=1000)
    first = partitioner.choose("t", None, None, 8)
    partitioner.on_append("t", first, 600)
    partitioner.on_append("t", (first + 1) % 8, 600)  # not the sticky partition: not counted
    assert partitioner.choose("t", None, None, 8) == first
    partitioner.on_append("t", first, 400)
    second = partitioner.choose("t", None, None, 8)
    assert second != first
    partitioner.on_append("t", second, 999)
    assert partitioner.choose("t", None, None, 8) == second


def test_without_sticky_bytes_appends_do_not_switch() -> None:
    partitioner = StickyPartitioner(random.Random(4))
    first = partitioner.choose("t", None, None, 8)
    partitioner.on_append("t", first, 10**9)
    assert partitioner.choose("t", None, None, 8) == first


def test_sticky_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StickyPartitioner(random.Random(0), sticky_bytes=0)


def test_long_queues_are_chosen_less_often() -> None:
    partitioner = StickyPartitioner(random.Random(11))
    partitioner.set_queue_sizes("t", [0, 0, 5000, 5000])
    counts = Counter(_choices_after_switches(partitioner, 2000))
    # Weights 5001:5001:1:1 -- the long queues get well under 1 % of the moves.
    assert counts[2] + counts[3] < 40, counts
    assert counts[0] > 900 and counts[1] > 900


def _choices_after_switches(partitioner: StickyPartitioner, switches: int) -> list[int]:
    seen = []
    for _ in range(switches):
        p = partitioner.choose("t", None, None, 4)
        partitioner.on_batch_sent("t", p)
        seen.append(partitioner.choose("t", None, None, 4))
    return seen


def test_weighted_choice_boundaries() -> None:
    # Candidates after leaving partition 0: 1 (queue 30) and 2 (queue 0) -> weights 1 and
    # 31 out of 32.  A draw below 1/32 picks 1, from 1/32 on it picks 2.
    partitioner = StickyPartitioner(FixedDraws(0.0, 1 / 32 - 1e-9, 0.0, 1 / 32))
    assert partitioner.choose("t", None, None, 3) == 0
    partitioner.set_queue_sizes("t", [0, 30, 0])
    partitioner.on_batch_sent("t", 0)
    assert partitioner.choose("t", None, None, 3) == 1
    partitioner.set_queue_sizes("t", [30, 30, 0])
    partitioner.on_batch_sent("t", 1)  # candidates 0 (30) and 2 (0): weights 1 and 31
    assert partitioner.choose("t", None, None, 3) == 0
    partitioner.on_batch_sent("t", 0)  # candidates 1 (30) and 2 (0)
    assert partitioner.choose("t", None, None, 3) == 2


def test_equal_queues_and_forgotten_queues_choose_uniformly() -> None:
    partitioner = StickyPartitioner(FixedDraws(0.0, 0.5))
    partitioner.set_queue_sizes("t", [7, 7, 7])
    assert partitioner.choose("t", None, None, 3) == 0
    partitioner.set_queue_sizes("t", None)
    partitioner.on_batch_sent("t", 0)  # candidates 1, 2; draw 0.5 -> index 1 -> partition 2
    assert partitioner.choose("t", None, None, 3) == 2


def test_negative_queue_sizes_are_rejected() -> None:
    partitioner = StickyPartitioner(random.Random(0))
    with pytest.raises(ValueError, match="negative"):
        partitioner.set_queue_sizes("t", [1, -1])
