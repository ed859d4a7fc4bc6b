"""Key -> partition: the documented mapping of keyed records (DESIGN.md "Partitioning").

Pure functions; thread-safe.
"""

from __future__ import annotations

import mmh3

from partitioning.errors import InvalidPartitionCount

__all__ = ["key_hash", "partition_for"]


def key_hash(key: bytes) -> int:
    """The unsigned 32-bit MurmurHash3 (x86_32, seed 0) of ``key``.

    Also the hash that places a consumer group on a ``__consumer_offsets`` partition
    (DESIGN.md principle 5), so both go through this one function.
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
