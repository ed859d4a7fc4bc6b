"""What a consumer puts in JoinGroup and what the group's leader computes for SyncGroup.

Every member sends, for each assignor it supports (``partition_assignment_strategy``, in
order of preference), Kafka's ConsumerProtocol subscription: its topics, the partitions it
owns now and the generation they belong to (``partitioning.encode_subscription``, v3). The
coordinator treats those bytes as opaque and picks the protocol every member supports; the
member it makes leader decodes everyone's subscription, runs that assignor of
``partitioning`` over the partition counts it looked up, and sends each member its
ConsumerProtocol assignment (DESIGN.md principle 7; Kafka's
``ConsumerCoordinator.onLeaderElected``).

Rebalance protocol: cooperative when the generation's assignor supports it (KIP-429: members
keep their partitions across the rebalance and give up only those that move), eager
otherwise (everything is revoked before joining).

Partitions: the assignor model's are ``partitioning.TopicPartition`` (the one internal
type, a NamedTuple); this module is the client's one adapter to it and hands the rest of the
client :data:`~logd.client.types.PartitionKey` tuples, so the bare name ``TopicPartition``
inside ``logd/client`` means only the public type (with an offset).

Pure functions; thread-safe.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence

import partitioning
from logd.client.types import PartitionKey
from logd.groups.messages import JoinGroupMember
from partitioning import (
    ASSIGNORS,
    Assignment,
    ProtocolDecodeError,
    RebalanceProtocol,
    Subscription,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)

__all__ = [
    "assigned_partitions",
    "compute_assignment",
    "group_topics",
    "is_cooperative",
    "subscription_protocols",
]

_log = logging.getLogger(__name__)


def is_cooperative(protocol: str) -> bool:
    assignor = ASSIGNORS.get(protocol)
    return assignor is not None and RebalanceProtocol.COOPERATIVE in assignor.supported_protocols


def subscription_protocols(
    strategies: Sequence[str],
    topics: Iterable[str],
    owned: Iterable[PartitionKey],
    generation: int,
) -> list[tuple[str, bytes]]:
    """(assignor name, subscription bytes) for each strategy, in order of preference."""
    subscription = Subscription(
        topics=tuple(sorted(topics)),
        owned_partitions=tuple(sorted(partitioning.TopicPartition(t, p) for t, p in owned)),
        generation_id=generation if generation >= 0 else None,
    )
    data = encode_subscription(subscription)
    return [(name, data) for name in strategies]


def _subscriptions(members: Sequence[JoinGroupMember]) -> dict[str, Subscription]:
    subs: dict[str, Subscription] = {}
    for m in members:
        try:
            sub = decode_subscription(m.metadata)
        except ProtocolDecodeError as exc:
            # A member whose bytes we cannot read gets nothing rather than failing the group.
            _log.warning("member %s sent an unreadable subscription: %s", m.member_id, exc)
            sub = Subscription(topics=())
        subs[m.member_id] = dataclasses.replace(sub, group_instance_id=m.group_instance_id)
    return subs


def group_topics(members: Sequence[JoinGroupMember]) -> set[str]:
    """Every topic some member subscribes to (the leader looks up their partitions)."""
    return {topic for sub in _subscriptions(members).values() for topic in sub.topics}


def compute_assignment(
    protocol: str, members: Sequence[JoinGroupMember], partition_counts: Mapping[str, int]
) -> dict[str, bytes]:
    """The leader's work: every member's assignment bytes under ``protocol``. Topics missing
    from ``partition_counts`` (not created yet) are skipped, as Kafka skips them."""
    assignor = ASSIGNORS[protocol]
    result: dict[str, Assignment] = assignor.assign(partition_counts, _subscriptions(members))
    return {member_id: encode_assignment(a) for member_id, a in result.items()}


def assigned_partitions(data: bytes) -> list[PartitionKey]:
    """The partitions of an assignment (empty bytes: none). Raises ProtocolDecodeError."""
    if not data:
        return []
    return [(tp.topic, tp.partition) for tp in decode_assignment(data).partitions]
