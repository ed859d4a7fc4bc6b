"""The interface every group assignor implements, and what they share.

An assignor is a pure function from (partitions per topic, member subscriptions) to one
:class:`~partitioning.model.Assignment` per member -- the shape of Kafka's
``ConsumerPartitionAssignor.assign(Cluster, GroupSubscription)``.  The group's leader member
runs it; the coordinator only stores the resulting opaque bytes (DESIGN.md principle 7).
Everything here is stateless and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from partitioning.errors import InvalidPartitionCount
from partitioning.model import Assignment, MemberId, RebalanceProtocol, Subscription, TopicPartition

__all__ = [
    "PartitionAssignor",
    "empty_assignments",
    "member_order",
    "subscribed_counts",
    "to_assignments",
]


class PartitionAssignor(Protocol):
    """Kafka's ``ConsumerPartitionAssignor``, reduced to what a pure function needs."""

    @property
    def name(self) -> str:
        """The protocol name members advertise at JoinGroup ("range", "roundrobin"...)."""
        ...

    @property
    def supported_protocols(self) -> tuple[RebalanceProtocol, ...]:
        """The rebalance protocols it supports, preferred first."""
        ...

    def assign(
        self,
        partitions_per_topic: Mapping[str, int],
        subscriptions: Mapping[MemberId, Subscription],
    ) -> dict[MemberId, Assignment]:
        """One assignment per member of ``subscriptions``; topics missing from
        ``partitions_per_topic`` (no metadata) are skipped, as Kafka skips them."""
        ...


def subscribed_counts(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> dict[str, int]:
    """Partition counts of the topics some member subscribes to and that have partitions.

    Raises :class:`InvalidPartitionCount` for a negative count (broken metadata).
    """
    for topic, count in partitions_per_topic.items():
        if count < 0:
            raise InvalidPartitionCount(f"topic {topic!r} has a negative partition count {count}")
    wanted = {topic for sub in subscriptions.values() for topic in sub.topics}
    return {
        topic: count
        for topic, count in sorted(partitions_per_topic.items())
        if topic in wanted and count > 0
    }


def member_order(subscriptions: Mapping[MemberId, Subscription]) -> list[MemberId]:
    """Members in Kafka's ``MemberInfo`` order: static members first, by group.instance.id,
    then dynamic members by member id.

    Static members sort by instance id because their member id changes at every restart
    while the instance id does not: ordering by it keeps a restarted member's partitions
    where they were.  Member id breaks ties, so the order is total.
    """
    return sorted(
        subscriptions,
        key=lambda m: (
            subscriptions[m].group_instance_id is None,
            subscriptions[m].group_instance_id or "",
            m,
        ),
    )


def empty_assignments(
    subscriptions: Mapping[MemberId, Subscription],
) -> dict[MemberId, list[TopicPartition]]:
    """An empty partition list for every member (every member gets an assignment)."""
    return {member: [] for member in subscriptions}


def to_assignments(
    partitions: Mapping[MemberId, list[TopicPartition]],
) -> dict[MemberId, Assignment]:
    """Wrap partition lists; these assignors keep no user data, as Kafka's do not."""
    return {member: Assignment(tuple(parts)) for member, parts in partitions.items()}
