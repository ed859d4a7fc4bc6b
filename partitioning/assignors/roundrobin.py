"""The round-robin assignor (Kafka ``RoundRobinAssignor``, name "roundrobin").

All partitions of all subscribed topics, sorted by (topic, partition), are dealt one by one
to the members in :func:`member_order`, cyclically, skipping members that do not subscribe
to the partition's topic.  When every member subscribes to the same topics, counts differ
by at most one.  Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping

from partitioning.assignors.base import (
    empty_assignments,
    member_order,
    subscribed_counts,
    to_assignments,
)
from partitioning.model import Assignment, MemberId, RebalanceProtocol, Subscription, TopicPartition

__all__ = ["RoundRobinAssignor", "assign_roundrobin"]


def assign_roundrobin(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> dict[MemberId, Assignment]:
    """Round-robin assignment over the sorted partitions of all subscribed topics."""
    counts = subscribed_counts(partitions_per_topic, subscriptions)
    order = member_order(subscriptions)
    topics_of = {m: frozenset(subscriptions[m].topics) for m in order}
    result = empty_assignments(subscriptions)
    cursor = 0
    for topic, count in counts.items():  # sorted by topic
        for partition in range(count):
            # Kafka's CircularIterator: advance to the next member that subscribes.  One
            # does, or the topic would not be in ``counts``, so this ends within a cycle.
            while topic not in topics_of[order[cursor]]:
                cursor = (cursor + 1) % len(order)
            result[order[cursor]].append(TopicPartition(topic, partition))
            cursor = (cursor + 1) % len(order)
    return to_assignments(result)


class RoundRobinAssignor:
    """:class:`~partitioning.assignors.base.PartitionAssignor` for "roundrobin"; stateless."""

    name = "roundrobin"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(
        self,
        partitions_per_topic: Mapping[str, int],
        subscriptions: Mapping[MemberId, Subscription],
    ) -> dict[MemberId, Assignment]:
        """See :func:`assign_roundrobin`."""
        return assign_roundrobin(partitions_per_topic, subscriptions)
