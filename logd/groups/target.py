"""The target assignment of a consumer-protocol group (KIP-848): computed by the broker with
``partitioning``'s assignors, not by a leader member.

Two server-side assignors, Kafka's names: ``uniform`` (the default; a sticky, balanced
assignment -- ``partitioning``'s cooperative-sticky algorithm with each member's current
target as what it owns, so a new target moves as few partitions as it can) and ``range``
(per topic, consecutive ranges in member order, for co-partitioned topics). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from logd.groups.reconcile import ConsumerMember, Partitions
from partitioning import Subscription, assign_range, sticky_target

__all__ = ["DEFAULT_ASSIGNOR", "SERVER_ASSIGNORS", "choose_assignor", "target_assignment"]

DEFAULT_ASSIGNOR = "uniform"
#: The assignors a member may name in ``server_assignor``, the default first.
SERVER_ASSIGNORS = (DEFAULT_ASSIGNOR, "range")


def choose_assignor(members: Iterable[ConsumerMember]) -> str:
    """The assignor most members asked for (ties: in ``SERVER_ASSIGNORS`` order); the
    default when nobody asked (Kafka picks the most used one, too)."""
    votes = dict.fromkeys(SERVER_ASSIGNORS, 0)
    for member in members:
        if member.server_assignor in votes:
            votes[member.server_assignor] += 1
    best = max(SERVER_ASSIGNORS, key=lambda name: (votes[name], -SERVER_ASSIGNORS.index(name)))
    return best if votes[best] else DEFAULT_ASSIGNOR


def target_assignment(
    assignor: str,
    members: Mapping[str, ConsumerMember],
    current: Mapping[str, Partitions],
    partitions_per_topic: Mapping[str, int],
    epoch: int,
) -> dict[str, Partitions]:
    """Each member's target partitions. ``current`` is the previous target (what the sticky
    assignor keeps); topics missing from ``partitions_per_topic`` get nobody."""
    if assignor == "range":
        subscriptions = {
            m: Subscription(member.topics, group_instance_id=member.instance_id)
            for m, member in members.items()
        }
        assigned = assign_range(partitions_per_topic, subscriptions)
    else:
        subscriptions = {
            m: Subscription(
                member.topics,
                owned_partitions=tuple(sorted(current.get(m, ()))),
                generation_id=epoch,
                group_instance_id=member.instance_id,
            )
            for m, member in members.items()
        }
        assigned = sticky_target(partitions_per_topic, subscriptions)
    return {m: frozenset(assigned[m].partitions) if m in assigned else frozenset() for m in members}
