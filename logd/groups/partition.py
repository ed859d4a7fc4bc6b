"""Which ``__consumer_offsets`` partition — and so which coordinator — owns a group.

DESIGN.md principle 5: the coordinator of a group is the leader of partition
``mmh3.hash(group_id, 0, signed=False) % offsets_partitions`` of ``__consumer_offsets``.
(Kafka uses ``abs(groupId.hashCode) % n``; logd uses murmur3 as it does for record keys.)

This module imports nothing of the coordinator so that the broker's metadata path can call it
without loading the state machine. Pure functions; safe from any thread.
"""

from __future__ import annotations

from logd.errors import InvalidPartitionsError
from partitioning import keys

__all__ = ["OFFSETS_TOPIC", "offsets_partition_for"]

OFFSETS_TOPIC = "__consumer_offsets"


def offsets_partition_for(group_id: str, partitions: int) -> int:
    """The ``__consumer_offsets`` partition that holds ``group_id``'s offsets and metadata."""
    if partitions < 1:
        raise InvalidPartitionsError(
            f"{OFFSETS_TOPIC} needs at least one partition, not {partitions}"
        )
    return keys.offsets_partition_for(group_id, partitions)
