"""The cooperative-sticky assignor (Kafka ``CooperativeStickyAssignor``, KIP-429).

*Sticky*: every member keeps the partitions it owns (``Subscription.owned_partitions``) as
long as the assignment stays balanced.  *Cooperative*: a partition that moves from one
member to another is first revoked -- this rebalance removes it from the old owner and does
NOT give it to the new one; the old owner stops consuming it, commits, and rejoins, and the
follow-up rebalance hands it over.  So no partition is ever owned by two members at once,
and partitions that do not move keep being consumed throughout.

How the assignment is computed:

1. **Claims.**  A member's claim on an owned partition counts when the partition exists and
   the member still subscribes to its topic.  When several members claim one partition, the
   highest generation wins (a member that missed a rebalance reports a stale generation);
   a tie in the highest generation means the claims cannot be told apart, so the partition
   goes to no one this round (Kafka's ``partitionsWithMultiplePreviousOwners``).
2. **Target.**  When all members are eligible for the same topics (the common case), exact
   quotas: ``total // members`` each, one more for ``total % members`` of them -- those that
   kept the most, which maximises what is kept.  Each member keeps up to its quota of its
   claims, the rest is dealt round-robin to the members under quota (Kafka's
   ``ConstrainedAssignmentBuilder``).  Otherwise (different subscriptions) claims are kept,
   the rest goes to the least-loaded eligible member (most constrained topics first), and
   then partitions move along *augmenting paths* from a member to one with at least two
   fewer partitions, possibly through intermediate members.  Each move lowers the sum of
   squared counts, so it ends, and when no such path is left no sum-of-squares-better
   assignment exists (the optimality condition of convex-cost flows).  Moves give away
   partitions the giver did not own before in preference to owned ones.
3. **Revocation round.**  A target partition that somebody claims is withheld from every
   member but its one resolved owner (Kafka ``computePartitionsTransferringOwnership``):
   whoever still holds it revokes it now, and the next rebalance hands it over.  So a
   partition moving between members, a doubly claimed one, and one whose holder
   unsubscribed all wait one round.

Pure and thread-safe; deterministic (member ids and topic names decide every tie).
"""

from __future__ import annotations

import heapq
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from partitioning.assignors.base import subscribed_counts
from partitioning.model import (
    DEFAULT_GENERATION,
    Assignment,
    MemberId,
    RebalanceProtocol,
    Subscription,
    TopicPartition,
)

__all__ = [
    "CooperativeStickyAssignor",
    "assign_cooperative_sticky",
    "member_generation",
    "sticky_target",
]

# The user data of Kafka's CooperativeStickyAssignor (schema V0: one INT32 "generation"),
# which members send when their subscription version predates the generation field (v0/v1).
_USER_DATA_GENERATION = struct.Struct(">i")


def member_generation(subscription: Subscription) -> int:
    """The generation a member's owned partitions belong to.

    The subscription's ``generation_id`` (v2+) when present, else the generation in the
    assignor's user data (v0/v1), else :data:`DEFAULT_GENERATION` -- as Kafka's
    ``CooperativeStickyAssignor.memberData`` reads it.
    """
    if subscription.generation_id is not None:
        return subscription.generation_id
    user_data = subscription.user_data
    if user_data is not None and len(user_data) >= _USER_DATA_GENERATION.size:
        return int(_USER_DATA_GENERATION.unpack_from(user_data)[0])
    return DEFAULT_GENERATION


@dataclass(slots=True)
class _Claims:
    owner: dict[TopicPartition, MemberId] = field(default_factory=dict)
    """The one member that keeps claiming each partition, when there is exactly one."""
    claimants: dict[TopicPartition, set[MemberId]] = field(default_factory=dict)
    """Everybody who says it owns each existing partition, valid claim or not."""


def _resolve_claims(
    counts: Mapping[str, int],
    subscriptions: Mapping[MemberId, Subscription],
    eligible: Mapping[MemberId, frozenset[str]],
) -> _Claims:
    claims = _Claims()
    best: dict[TopicPartition, tuple[int, list[MemberId]]] = {}
    for member in sorted(subscriptions):
        generation = member_generation(subscriptions[member])
        for tp in subscriptions[member].owned_partitions:
            if not 0 <= tp.partition < counts.get(tp.topic, 0):
                continue  # a topic nobody subscribes to any more, or a partition that is gone
            claims.claimants.setdefault(tp, set()).add(member)
            if tp.topic not in eligible[member]:
                continue  # unsubscribed: it must let go of the partition
            current = best.get(tp)
            if current is None or generation > current[0]:
                best[tp] = (generation, [member])
            elif generation == current[0] and member not in current[1]:
                current[1].append(member)
    claims.owner = {tp: members[0] for tp, (_, members) in best.items() if len(members) == 1}
    return claims


def _constrained_target(
    counts: Mapping[str, int], kept: Mapping[MemberId, list[TopicPartition]]
) -> dict[MemberId, list[TopicPartition]]:
    """Exact quotas when every member is eligible for every topic."""
    members = sorted(kept)
    min_quota, extras = divmod(sum(counts.values()), len(members))
    by_kept = sorted(members, key=lambda m: (-len(kept[m]), m))
    quota = {m: min_quota + (1 if i < extras else 0) for i, m in enumerate(by_kept)}
    target: dict[MemberId, list[TopicPartition]] = {}
    assigned: set[TopicPartition] = set()
    for member in members:
        # Sorting by partition before topic keeps a spread of topics, as Kafka does.
        keep = sorted(kept[member], key=lambda tp: (tp.partition, tp.topic))[: quota[member]]
        target[member] = keep
        assigned.update(keep)
    unfilled = deque(m for m in members if len(target[m]) < quota[m])
    for topic, count in counts.items():
        for partition in range(count):
            tp = TopicPartition(topic, partition)
            if tp in assigned:
                continue
            member = unfilled.popleft()
            target[member].append(tp)
            if len(target[member]) < quota[member]:
                unfilled.append(member)
    assert not unfilled, "Invariant: quotas add up to the partition count"
    return target


class _General:
    """Balancing state for members with different subscriptions."""

    __slots__ = ("eligible", "held", "owner", "size", "subscribers")

    def __init__(
        self,
        counts: Mapping[str, int],
        eligible: Mapping[MemberId, frozenset[str]],
        owner: Mapping[TopicPartition, MemberId],
    ) -> None:
        self.eligible = eligible
        self.owner = owner
        self.subscribers = {t: sorted(m for m in eligible if t in eligible[m]) for t in counts}
        self.held: dict[MemberId, dict[str, set[int]]] = {m: {} for m in eligible}
        self.size = dict.fromkeys(eligible, 0)
        for tp, member in owner.items():
            self._add(member, tp.topic, tp.partition)
        # Most constrained topics first, each partition to the least-loaded subscriber.
        for topic in sorted(counts, key=lambda t: (len(self.subscribers[t]), t)):
            heap = [(self.size[m], m) for m in self.subscribers[topic]]
            heapq.heapify(heap)
            for partition in range(counts[topic]):
                if TopicPartition(topic, partition) in owner:
                    continue
                _, member = heapq.heappop(heap)
                self._add(member, topic, partition)
                heapq.heappush(heap, (self.size[member], member))

    def _add(self, member: MemberId, topic: str, partition: int) -> None:
        self.held[member].setdefault(topic, set()).add(partition)
        self.size[member] += 1

    def _move(self, source: MemberId, target: MemberId, topic: str) -> None:
        partitions = self.held[source][topic]
        fresh = [p for p in partitions if self.owner.get(TopicPartition(topic, p)) != source]
        partition = min(fresh) if fresh else max(partitions)
        partitions.remove(partition)
        if not partitions:
            del self.held[source][topic]
        self.size[source] -= 1
        self._add(target, topic, partition)

    def _path(
        self, giver: MemberId
    ) -> tuple[list[tuple[MemberId, MemberId, str]] | None, set[MemberId]]:
        """Shortest chain of single-partition moves from ``giver`` to a member holding at
        least two fewer partitions (breadth-first; the lightest receiver at that depth),
        and the members the search reached."""
        limit = self.size[giver] - 2
        parent: dict[MemberId, tuple[MemberId, str]] = {}
        seen = {giver}
        frontier = [giver]
        while frontier:
            found: MemberId | None = None
            next_frontier: list[MemberId] = []
            for member in frontier:
                for topic in sorted(self.held[member]):
                    for other in self.subscribers[topic]:
                        if other in seen:
                            continue
                        seen.add(other)
                        parent[other] = (member, topic)
                        next_frontier.append(other)
                        if self.size[other] <= limit and (
                            found is None or (self.size[other], other) < (self.size[found], found)
                        ):
                            found = other
            if found is not None:
                hops: list[tuple[MemberId, MemberId, str]] = []
                while found != giver:
                    source, topic = parent[found]
                    hops.append((source, found, topic))
                    found = source
                return hops[::-1], seen
            frontier = next_frontier
        return None, seen

    def balance(self) -> None:
        receivers = [m for m in self.eligible if self.eligible[m]]
        while receivers:
            lowest = min(self.size[m] for m in receivers)
            path = None
            # A failed search from g reached no member lighter than size(g) - 1, and nothing
            # reachable from g reaches further, so the members it saw that are no heavier
            # than g cannot give either -- until the next move changes the holdings.
            hopeless: set[MemberId] = set()
            for giver in sorted(self.size, key=lambda m: (-self.size[m], m)):
                if self.size[giver] - lowest < 2:
                    break
                if giver in hopeless:
                    continue
                path, reached = self._path(giver)
                if path is not None:
                    break
                hopeless |= reached
            if path is None:
                return
            # Intermediate members gain one and lose one: only the ends change size.
            for source, target, topic in path:
                self._move(source, target, topic)

    def target(self) -> dict[MemberId, list[TopicPartition]]:
        return {
            member: [TopicPartition(t, p) for t, ps in topics.items() for p in ps]
            for member, topics in self.held.items()
        }


def _plan(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> tuple[dict[MemberId, list[TopicPartition]], _Claims]:
    """Steps 1 and 2 of the module docstring: the claims and the balanced target."""
    counts = subscribed_counts(partitions_per_topic, subscriptions)
    eligible = {m: frozenset(t for t in s.topics if t in counts) for m, s in subscriptions.items()}
    claims = _resolve_claims(counts, subscriptions, eligible)
    if len(set(eligible.values())) == 1 and counts:
        kept: dict[MemberId, list[TopicPartition]] = {m: [] for m in subscriptions}
        for tp, member in claims.owner.items():
            kept[member].append(tp)
        return _constrained_target(counts, kept), claims
    general = _General(counts, eligible, claims.owner)
    general.balance()
    return general.target(), claims


def sticky_target(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> dict[MemberId, Assignment]:
    """The balanced, sticky target (steps 1 and 2) with nothing withheld: for a broker that
    assigns and lets each member revoke before it takes (KIP-848's "uniform" assignor), where
    the revocation round of step 3 happens in the members' reconciliation instead."""
    if not subscriptions:
        return {}
    target, _ = _plan(partitions_per_topic, subscriptions)
    return {member: Assignment(tuple(sorted(tps))) for member, tps in target.items()}


def assign_cooperative_sticky(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[MemberId, Subscription]
) -> dict[MemberId, Assignment]:
    """The cooperative-sticky assignment of this rebalance (see the module docstring)."""
    if not subscriptions:
        return {}
    target, claims = _plan(partitions_per_topic, subscriptions)
    result: dict[MemberId, Assignment] = {}
    for member, partitions in target.items():
        # Withhold what somebody else may still hold: it is revoked there first.
        granted = [
            tp for tp in partitions if tp not in claims.claimants or claims.owner.get(tp) == member
        ]
        result[member] = Assignment(tuple(sorted(granted)))
    return result


class CooperativeStickyAssignor:
    """:class:`~partitioning.assignors.base.PartitionAssignor` for "cooperative-sticky".

    Stateless: the generation it needs travels in each member's subscription.
    """

    name = "cooperative-sticky"
    supported_protocols = (RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER)

    def assign(
        self,
        partitions_per_topic: Mapping[str, int],
        subscriptions: Mapping[MemberId, Subscription],
    ) -> dict[MemberId, Assignment]:
        """See :func:`assign_cooperative_sticky`."""
        return assign_cooperative_sticky(partitions_per_topic, subscriptions)
