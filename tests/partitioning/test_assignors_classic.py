"""Range and round-robin assignors: Kafka's documented examples and their properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning import (
    ASSIGNORS,
    Assignment,
    InvalidPartitionCount,
    RebalanceProtocol,
    Subscription,
    TopicPartition,
    assign_range,
    assign_roundrobin,
    member_order,
)
from tests.partitioning.group_sim import (
    Assign,
    all_partitions,
    member_ids,
    owners,
    partition_counts,
)


def tp(name: str) -> TopicPartition:
    """``"t0p2"`` -> TopicPartition("t0", 2), the notation of Kafka's Javadoc."""
    topic, partition = name.split("p")
    return TopicPartition(topic, int(partition))


def parts(result: dict[str, Assignment]) -> dict[str, list[str]]:
    return {m: [f"{t}p{p}" for t, p in a.partitions] for m, a in result.items()}


def subs(**topics: tuple[str, ...]) -> dict[str, Subscription]:
    return {member: Subscription(t) for member, t in topics.items()}


def test_range_javadoc_example() -> None:
    result = assign_range({"t0": 3, "t1": 3}, subs(C0=("t0", "t1"), C1=("t0", "t1")))
    assert parts(result) == {"C0": ["t0p0", "t0p1", "t1p0", "t1p1"], "C1": ["t0p2", "t1p2"]}


def test_roundrobin_javadoc_example() -> None:
    result = assign_roundrobin({"t0": 3, "t1": 3}, subs(C0=("t0", "t1"), C1=("t0", "t1")))
    assert parts(result) == {"C0": ["t0p0", "t0p2", "t1p1"], "C1": ["t0p1", "t1p0", "t1p2"]}


def test_roundrobin_javadoc_example_with_different_subscriptions() -> None:
    result = assign_roundrobin(
        {"t0": 1, "t1": 2, "t2": 3},
        subs(C0=("t0",), C1=("t0", "t1"), C2=("t0", "t1", "t2")),
    )
    assert parts(result) == {
        "C0": ["t0p0"],
        "C1": ["t1p0"],
        "C2": ["t1p1", "t2p0", "t2p1", "t2p2"],
    }


@pytest.mark.parametrize("assign", [assign_range, assign_roundrobin])
def test_static_members_keep_partitions_across_a_rolling_bounce(assign: Assign) -> None:
    """Kafka's RoundRobinAssignor Javadoc: with group.instance.id, new member ids after a
    bounce (C0->C5, C1->C3, C2->C4) leave every instance with the same partitions."""
    counts = {"t0": 3, "t1": 3}

    def by_instance(ids: dict[str, str]) -> dict[str, list[str]]:
        group = {m: Subscription(("t0", "t1"), group_instance_id=i) for m, i in ids.items()}
        return {ids[m]: p for m, p in parts(assign(counts, group)).items()}

    before = by_instance({"C0": "I0", "C1": "I1", "C2": "I2"})
    after = by_instance({"C5": "I0", "C3": "I1", "C4": "I2"})
    assert (
        before
        == after
        == {
            "I0": ["t0p0", "t1p0"],
            "I1": ["t0p1", "t1p1"],
            "I2": ["t0p2", "t1p2"],
        }
    )


def test_member_order_static_first_by_instance_id_then_member_id() -> None:
    group = {
        "a": Subscription(("t",)),
        "b": Subscription(("t",), group_instance_id="z"),
        "c": Subscription(("t",), group_instance_id="y"),
        "0": Subscription(("t",)),
    }
    assert member_order(group) == ["c", "b", "0", "a"]


def test_registry_names_and_protocols() -> None:
    assert set(ASSIGNORS) == {"range", "roundrobin", "cooperative-sticky"}
    assert ASSIGNORS["range"].supported_protocols == (RebalanceProtocol.EAGER,)
    assert RebalanceProtocol.COOPERATIVE in ASSIGNORS["cooperative-sticky"].supported_protocols


@pytest.mark.parametrize("name", ["range", "roundrobin", "cooperative-sticky"])
def test_topics_without_metadata_or_partitions_are_skipped(name: str) -> None:
    result = ASSIGNORS[name].assign(
        {"t0": 2, "empty": 0}, subs(a=("t0", "ghost", "empty"), b=("ghost",))
    )
    assert {m: sorted(a.partitions) for m, a in result.items()} == {
        "a": [tp("t0p0"), tp("t0p1")],
        "b": [],
    }


@pytest.mark.parametrize("name", ["range", "roundrobin", "cooperative-sticky"])
def test_negative_partition_count_is_rejected(name: str) -> None:
    with pytest.raises(InvalidPartitionCount, match="negative"):
        ASSIGNORS[name].assign({"t0": -1}, subs(a=("t0",)))


@pytest.mark.parametrize("name", ["range", "roundrobin", "cooperative-sticky"])
def test_empty_group(name: str) -> None:
    assert ASSIGNORS[name].assign({"t0": 3}, {}) == {}


@st.composite
def groups(draw: st.DrawFn, equal: bool) -> tuple[dict[str, int], dict[str, Subscription]]:
    counts = draw(partition_counts())
    names = [*sorted(counts), "ghost"]
    members = draw(member_ids())
    shared = tuple(draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    subscriptions = {}
    for member in members:
        topics = shared if equal else tuple(draw(st.lists(st.sampled_from(names), unique=True)))
        instance = draw(st.none() | st.sampled_from(["i1", "i2", "i3", "i4"]))
        subscriptions[member] = Subscription(topics, group_instance_id=instance)
    return counts, subscriptions


def _check_exactly_once(
    counts: dict[str, int], group: dict[str, Subscription], result: dict[str, Assignment]
) -> None:
    assert set(result) == set(group)
    subscribed = all_partitions(counts, {t for s in group.values() for t in s.topics})
    found = owners(result)
    assert set(found) == subscribed
    for partition, members in found.items():
        assert len(members) == 1
        assert partition.topic in group[members[0]].topics


@settings(max_examples=150, deadline=None)
@given(groups(equal=False))
def test_range_assigns_each_partition_once_in_balanced_ranges(
    case: tuple[dict[str, int], dict[str, Subscription]],
) -> None:
    counts, group = case
    result = assign_range(counts, group)
    _check_exactly_once(counts, group, result)
    for topic, n in counts.items():
        subscribers = [m for m in member_order(group) if topic in group[m].topics]
        if not subscribers or n == 0:
            continue
        got = [[p for t, p in result[m].partitions if t == topic] for m in subscribers]
        assert max(map(len, got)) - min(map(len, got)) <= 1
        assert [p for ranges in got for p in ranges] == list(range(n))  # consecutive, in order


@settings(max_examples=150, deadline=None)
@given(groups(equal=True))
def test_roundrobin_with_equal_subscriptions_is_balanced(
    case: tuple[dict[str, int], dict[str, Subscription]],
) -> None:
    counts, group = case
    result = assign_roundrobin(counts, group)
    _check_exactly_once(counts, group, result)
    totals = [len(a.partitions) for a in result.values()]
    assert max(totals) - min(totals) <= 1


@settings(max_examples=150, deadline=None)
@given(groups(equal=False))
def test_roundrobin_assigns_each_partition_once(
    case: tuple[dict[str, int], dict[str, Subscription]],
) -> None:
    counts, group = case
    _check_exactly_once(counts, group, assign_roundrobin(counts, group))


@settings(max_examples=50, deadline=None)
@given(groups(equal=False), st.randoms(use_true_random=False))
@pytest.mark.parametrize("name", ["range", "roundrobin", "cooperative-sticky"])
def test_result_does_not_depend_on_member_arrival_order(
    name: str, case: tuple[dict[str, int], dict[str, Subscription]], rng: random.Random
) -> None:
    counts, group = case
    shuffled = list(group.items())
    rng.shuffle(shuffled)
    assert ASSIGNORS[name].assign(counts, group) == ASSIGNORS[name].assign(counts, dict(shuffled))
