"""Key -> partition: the documented mmh3 contract (DESIGN.md "Partitioning")."""

from __future__ import annotations

from collections import Counter

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partitioning import InvalidPartitionCount, key_hash, offsets_partition_for, partition_for

# MurmurHash3 x86_32, seed 0, of published test strings.  Pinning them pins where keys land:
# a change of hash library or seed would move every key, which the contract forbids.
GOLDEN = [
    (b"", 0),
    (b"hello", 0x248BFA47),
    (b"The quick brown fox jumps over the lazy dog", 0x2E4FF723),
]


@pytest.mark.parametrize(("key", "expected"), GOLDEN)
def test_key_hash_is_murmur3_x86_32_seed_0_unsigned(key: bytes, expected: int) -> None:
    assert key_hash(key) == expected


def test_partition_is_hash_modulo_count() -> None:
    # 0x248BFA47 = 613153351; 613153351 % 10 == 1
    assert partition_for(b"hello", 10) == 1
    assert partition_for(b"", 7) == 0


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=10_000))
def test_partition_is_in_range_and_stable(key: bytes, n: int) -> None:
    p = partition_for(key, n)
    assert 0 <= p < n
    assert partition_for(key, n) == p == key_hash(key) % n


@pytest.mark.parametrize("n", [0, -1])
def test_partition_count_below_one_is_rejected(n: int) -> None:
    with pytest.raises(InvalidPartitionCount, match="at least 1"):
        partition_for(b"k", n)


def test_keys_spread_evenly() -> None:
    counts = Counter(partition_for(f"device-{i}".encode(), 12) for i in range(12_000))
    assert set(counts) == set(range(12))
    # 1000 expected per partition; a fair hash stays well within +-15 %.
    assert all(850 <= c <= 1150 for c in counts.values()), counts


@given(st.text(max_size=40), st.integers(min_value=1, max_value=200))
def test_group_coordinator_partition_is_design_formula(group_id: str, n: int) -> None:
    # DESIGN.md principle 5, verbatim: mmh3 of the group id string.
    assert offsets_partition_for(group_id, n) == mmh3.hash(group_id, 0, signed=False) % n


def test_group_coordinator_partition_needs_partitions() -> None:
    with pytest.raises(InvalidPartitionCount):
        offsets_partition_for("g", 0)
