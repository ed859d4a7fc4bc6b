"""Kafka's murmur2 partitioning (the logd client's ``partitioner="murmur2"``): Kafka's own
test vectors, and kafka-python's implementation on random keys."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from partitioning import KEY_PARTITIONERS, murmur2, murmur2_partition_for, partition_for
from partitioning.errors import InvalidPartitionCount

# Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (signed ints).
KAFKA_VECTORS = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
]


@pytest.mark.parametrize(("key", "expected"), KAFKA_VECTORS)
def test_kafka_vectors(key: str, expected: int) -> None:
    assert ctypes.c_int32(murmur2(key.encode())).value == expected


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1000))
def test_same_hash_and_partition_as_kafka_python(key: bytes, partitions: int) -> None:
    assert murmur2(key) == kafka_python_murmur2(key)
    assert murmur2_partition_for(key, partitions) == (murmur2(key) & 0x7FFFFFFF) % partitions


def test_the_partitioners_by_name() -> None:
    assert {"mmh3": partition_for, "murmur2": murmur2_partition_for} == KEY_PARTITIONERS
    with pytest.raises(InvalidPartitionCount):
        murmur2_partition_for(b"k", 0)
