"""Shared strategies and a rebalance simulator for the assignor tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hypothesis import strategies as st

from partitioning import Assignment, Subscription, TopicPartition

TOPICS = ("t0", "t1", "t2", "t3")
Assign = Callable[[Mapping[str, int], Mapping[str, Subscription]], dict[str, Assignment]]


@st.composite
def partition_counts(draw: st.DrawFn, max_partitions: int = 12) -> dict[str, int]:
    names = draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=4, unique=True))
    return {name: draw(st.integers(min_value=0, max_value=max_partitions)) for name in names}


@st.composite
def member_ids(draw: st.DrawFn, min_size: int = 1, max_size: int = 7) -> list[str]:
    return draw(
        st.lists(
            st.text("abcxyz-0123", min_size=1, max_size=6),
            min_size=min_size,
            max_size=max_size,
            unique=True,
        )
    )


def all_partitions(counts: Mapping[str, int], topics: set[str]) -> set[TopicPartition]:
    return {TopicPartition(t, p) for t, n in counts.items() if t in topics for p in range(n)}


def owners(result: Mapping[str, Assignment]) -> dict[TopicPartition, list[str]]:
    found: dict[TopicPartition, list[str]] = {}
    for member, assignment in result.items():
        for tp in assignment.partitions:
            found.setdefault(tp, []).append(member)
    return found


def sizes(owned: Mapping[str, set[TopicPartition]]) -> list[int]:
    return [len(parts) for parts in owned.values()]


class Group:
    """Members with subscriptions and owned partitions, rebalanced cooperatively.

    After each rebalance every member revokes what it lost and takes what it was given;
    :meth:`rebalance` checks that no member is given a partition that another member still
    owns at that moment -- the cooperative protocol's safety property.
    """

    def __init__(self, assign: Assign, counts: Mapping[str, int]) -> None:
        self.assign = assign
        self.counts = dict(counts)
        self.topics: dict[str, tuple[str, ...]] = {}
        self.owned: dict[str, set[TopicPartition]] = {}
        self.generation = 0

    def join(self, member: str, topics: tuple[str, ...]) -> None:
        self.topics[member] = topics
        self.owned[member] = set()

    def leave(self, member: str) -> None:
        del self.topics[member]
        del self.owned[member]

    def rebalance(self) -> dict[str, Assignment]:
        subscriptions = {
            m: Subscription(
                topics=self.topics[m],
                owned_partitions=tuple(sorted(self.owned[m])),
                generation_id=self.generation if self.owned[m] else None,
            )
            for m in self.topics
        }
        result = self.assign(self.counts, subscriptions)
        assert set(result) == set(self.topics)
        for tp, members in owners(result).items():
            assert len(members) == 1, f"{tp} given to {members}"
        for member, assignment in result.items():
            gained = set(assignment.partitions) - self.owned[member]
            for other, parts in self.owned.items():
                assert other == member or not gained & parts, (
                    f"{member} was given {sorted(gained & parts)} still owned by {other}"
                )
        self.generation += 1
        self.owned = {m: set(a.partitions) for m, a in result.items()}
        return result

    def converge(self, rounds_max: int = 4) -> int:
        """Rebalance until nothing changes; the number of rebalances that changed something."""
        for rounds in range(rounds_max + 1):
            before = {m: set(parts) for m, parts in self.owned.items()}
            self.rebalance()
            if self.owned == before:
                return rounds
        raise AssertionError(f"no stable assignment after {rounds_max} rebalances")

    def subscribed(self) -> set[TopicPartition]:
        return all_partitions(self.counts, {t for ts in self.topics.values() for t in ts})
