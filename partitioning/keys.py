"""Key -> partition: the documented mapping of keyed records (DESIGN.md "Partitioning").

Pure functions; thread-safe.
"""

from __future__ import annotations

import mmh3

from partitioning.errors import InvalidPartitionCount

__all__ = ["key_hash", "offsets_partition_for", "partition_for"]


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
