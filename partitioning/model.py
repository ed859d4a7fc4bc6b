"""Group-membership data in the shape of Kafka's ``ConsumerPartitionAssignor``.

``Subscription`` and ``Assignment`` mirror the Java classes of the same names (classic
consumer protocol), so the assignors and the byte codec in :mod:`partitioning.protocol`
speak the language a Kafka client speaks.  All values are immutable and hashable; safe to
share between threads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

__all__ = [
    "DEFAULT_GENERATION",
    "Assignment",
    "MemberId",
    "RebalanceProtocol",
    "Subscription",
    "TopicPartition",
]

MemberId: TypeAlias = str
"""The member id the group coordinator hands out at JoinGroup."""

DEFAULT_GENERATION = -1
"""Kafka's ``AbstractStickyAssignor.DEFAULT_GENERATION``: "no generation known"."""


class TopicPartition(NamedTuple):
    """One partition of one topic; orders by (topic, partition) like Kafka's comparator.

    The one ``TopicPartition`` of every layer of logd (placement, assignors, the group
    coordinator, the cluster, the broker core and its front ends): it lives here, in the
    lowest package all of them may import. Printed as Kafka prints one: ``topic-partition``.
    """

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


class RebalanceProtocol(enum.Enum):
    """Kafka's ``ConsumerPartitionAssignor.RebalanceProtocol`` (KIP-429)."""

    EAGER = 0
    """Every member revokes everything before a rebalance."""
    COOPERATIVE = 1
    """Members keep their partitions; only the ones that move are revoked."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one member sends at JoinGroup (Kafka ``ConsumerPartitionAssignor.Subscription``).

    ``generation_id`` is ``None`` when the member does not know one (Kafka encodes that as
    -1).  ``group_instance_id`` is not part of the encoded bytes: the coordinator knows it
    from JoinGroup and the leader fills it in before it calls an assignor, as Kafka does.
    """

    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation_id: int | None = None
    group_instance_id: str | None = None
    rack_id: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """What one member receives at SyncGroup (Kafka ``ConsumerPartitionAssignor.Assignment``)."""

    partitions: tuple[TopicPartition, ...]
    user_data: bytes | None = None
