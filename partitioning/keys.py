"""Key -> partition: the documented mapping of keyed records (DESIGN.md "Partitioning").

Pure functions; thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import mmh3

from partitioning.errors import InvalidPartitionCount

__all__ = [
    "KEY_PARTITIONERS",
    "key_hash",
    "murmur2",
    "murmur2_partition_for",
    "offsets_partition_for",
    "partition_for",
]

_M: Final = 0x5BD1E995
_MASK32: Final = 0xFFFFFFFF


def key_hash(key: bytes) -> int:
    """The unsigned 32-bit MurmurHash3 (x86_32, seed 0) of ``key``.

    Keys and consumer-group ids (:func:`offsets_partition_for`) both go through it.
    """
    return mmh3.hash(key, 0, signed=False)


def partition_for(key: bytes, num_partitions: int) -> int:
    """The partition of a record with ``key`` in a topic of ``num_partitions`` partitions.

    Contract: ``mmh3.hash(key, 0, signed=False) % num_partitions`` -- MurmurHash3 x86_32
    with seed 0, read as unsigned.  This is deliberately *not* Kafka's
    ``Utils.toPositive(Utils.murmur2(key)) % numPartitions``: a Kafka client and a logd
    client put the same key on different partitions, and logd keeps this mapping stable
    across releases, because consumers that rely on per-key order depend on it.  Adding
    partitions changes the mapping of most keys (the CLI warns before it does that).

    Raises :class:`InvalidPartitionCount` when ``num_partitions < 1``.
    """
    if num_partitions < 1:
        raise InvalidPartitionCount(f"a topic has at least 1 partition, got {num_partitions}")
    return mmh3.hash(key, 0, signed=False) % num_partitions


def offsets_partition_for(group_id: str, offsets_partitions: int) -> int:
    """The ``__consumer_offsets`` partition whose leader coordinates ``group_id``.

    DESIGN.md principle 5: ``mmh3.hash(group_id, 0, signed=False) % offsets_partitions``,
    the group id hashed as UTF-8 (what ``mmh3.hash`` does with a ``str``).  Kafka uses
    ``abs(groupId.hashCode()) % offsets.topic.num.partitions``; logd's clients never
    compute this themselves (they ask FindCoordinator), so only the brokers must agree.
    """
    return partition_for(group_id.encode("utf-8"), offsets_partitions)


def murmur2(key: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (seed 0x9747b28c), as an unsigned 32-bit value.

    Written here rather than imported: no maintained package offers Kafka's variant alone
    (kafka-python has one, but it is a test dependency; the tests check this against it and
    against Kafka's own test vectors).
    """
    length = len(key)
    h = (0x9747B28C ^ length) & _MASK32
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = key[i] | key[i + 1] << 8 | key[i + 2] << 16 | key[i + 3] << 24
        k = (k * _M) & _MASK32
        k ^= k >> 24
        k = (k * _M) & _MASK32
        h = ((h * _M) & _MASK32) ^ k
    rest = length % 4
    if rest == 3:
        h ^= key[whole + 2] << 16
    if rest >= 2:
        h ^= key[whole + 1] << 8
    if rest >= 1:
        h ^= key[whole]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h


def murmur2_partition_for(key: bytes, num_partitions: int) -> int:
    """Kafka's default partitioning of a keyed record: ``toPositive(murmur2(key)) % n`` --
    where the Java client, librdkafka's ``murmur2_random`` and kafka-python put ``key``.
    logd's client uses it when configured with ``partitioner="murmur2"``."""
    if num_partitions < 1:
        raise InvalidPartitionCount(f"a topic has at least 1 partition, got {num_partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


#: Key -> partition functions by their client config name (``mmh3``: logd's default).
KEY_PARTITIONERS: Final[dict[str, Callable[[bytes, int], int]]] = {
    "mmh3": partition_for,
    "murmur2": murmur2_partition_for,
}
