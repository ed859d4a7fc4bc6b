"""The range assignor (Kafka ``RangeAssignor``, name "range").

Per topic, the members that subscribe to it (in :func:`member_order`) get consecutive
ranges of partitions; the first ``partitions % members`` get one extra.  Co-partitioned
topics therefore land on the same members (partition ``i`` of ``orders`` and of
``payments`` go to the same consumer), which is why people choose it -- and, across
several topics, the first members get the extras of every topic, so totals can differ by
more than one.  Pure and thread-safe.
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

__all__ = ["RangeAssignor", "assign_range"]


def assign_range(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> dict[MemberId, Assignment]:
    """Range assignment: per topic, consecutive ranges in member order."""
    counts = subscribed_counts(partitions_per_topic, subscriptions)
    order = member_order(subscriptions)
    result = empty_assignments(subscriptions)
    for topic, count in counts.items():
        members = [m for m in order if topic in subscriptions[m].topics]
        per_member, extra = divmod(count, len(members))
        start = 0
        for index, member in enumerate(members):
            size = per_member + (1 if index < extra else 0)
            result[member].extend(TopicPartition(topic, p) for p in range(start, start + size))
            start += size
        assert start == count, "Invariant: the ranges cover the topic exactly"
    return to_assignments(result)


class RangeAssignor:
    """:class:`~partitioning.assignors.base.PartitionAssignor` for "range"; stateless."""

    name = "range"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(
        self,
        partitions_per_topic: Mapping[str, int],
        subscriptions: Mapping[MemberId, Subscription],
    ) -> dict[MemberId, Assignment]:
        """See :func:`assign_range`."""
        return assign_range(partitions_per_topic, subscriptions)
