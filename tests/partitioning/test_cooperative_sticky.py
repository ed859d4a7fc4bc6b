"""Cooperative-sticky assignor: balanced, sticky, and never two owners at once (KIP-429)."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning import (
    DEFAULT_GENERATION,
    Subscription,
    TopicPartition,
    assign_cooperative_sticky,
    member_generation,
)
from tests.partitioning.group_sim import Group, member_ids, partition_counts, sizes

T = TopicPartition


def _group(counts: Mapping[str, int], members: dict[str, tuple[str, ...]]) -> Group:
    group = Group(assign_cooperative_sticky, counts)
    for member, topics in members.items():
        group.join(member, topics)
    return group


def _granted(sub: dict[str, Subscription], counts: Mapping[str, int]) -> dict[str, set[T]]:
    return {m: set(a.partitions) for m, a in assign_cooperative_sticky(counts, sub).items()}


# --- examples ---------------------------------------------------------------------------


def test_fresh_group_is_assigned_in_one_round() -> None:
    group = _group({"t": 6}, {"a": ("t",), "b": ("t",), "c": ("t",)})
    assert group.converge() == 1
    assert sizes(group.owned) == [2, 2, 2]
    assert set().union(*group.owned.values()) == group.subscribed()


def test_joining_member_waits_one_round_for_revoked_partitions() -> None:
    group = _group({"t": 6}, {"a": ("t",), "b": ("t",)})
    group.converge()
    before = {m: set(p) for m, p in group.owned.items()}
    group.join("c", ("t",))
    group.rebalance()
    # Revocation round: a and b each give one up; c gets nothing yet.
    assert group.owned["c"] == set()
    assert all(group.owned[m] < before[m] and len(group.owned[m]) == 2 for m in "ab")
    group.rebalance()
    assert sizes(group.owned) == [2, 2, 2]
    assert group.owned["c"] == (before["a"] | before["b"]) - group.owned["a"] - group.owned["b"]
    assert group.converge() == 0


def test_leaving_member_partitions_move_at_once_and_nothing_else_moves() -> None:
    group = _group({"t": 7, "u": 2}, {"a": ("t", "u"), "b": ("t", "u"), "c": ("t", "u")})
    group.converge()
    before = {m: set(p) for m, p in group.owned.items()}
    group.leave("b")
    group.rebalance()
    assert group.owned["a"] >= before["a"]
    assert group.owned["c"] >= before["c"]
    assert group.owned["a"] | group.owned["c"] == group.subscribed()
    assert sorted(sizes(group.owned)) == [4, 5]


def test_higher_generation_keeps_a_partition_claimed_twice() -> None:
    counts = {"t": 2}
    subscriptions = {
        "stale": Subscription(("t",), owned_partitions=(T("t", 0), T("t", 1)), generation_id=3),
        "fresh": Subscription(("t",), owned_partitions=(T("t", 0),), generation_id=4),
    }
    granted = _granted(subscriptions, counts)
    assert granted["fresh"] == {T("t", 0)}
    assert granted["stale"] == {T("t", 1)}


def test_partition_claimed_twice_in_one_generation_goes_to_nobody_first() -> None:
    counts = {"t": 4}
    subscriptions = {
        "a": Subscription(("t",), owned_partitions=(T("t", 0), T("t", 1)), generation_id=5),
        "b": Subscription(("t",), owned_partitions=(T("t", 1), T("t", 2)), generation_id=5),
    }
    granted = _granted(subscriptions, counts)
    assert T("t", 1) not in granted["a"] | granted["b"]
    assert T("t", 0) in granted["a"] and T("t", 2) in granted["b"]
    # Follow-up: both revoked t-1; now it is assigned.
    follow_up = {
        m: Subscription(("t",), owned_partitions=tuple(sorted(granted[m])), generation_id=6)
        for m in granted
    }
    again = _granted(follow_up, counts)
    assert again["a"] | again["b"] == {T("t", p) for p in range(4)}


def test_generation_from_user_data_of_old_subscriptions() -> None:
    old = Subscription(("t",), user_data=struct.pack(">i", 7))
    assert member_generation(old) == 7
    assert member_generation(Subscription(("t",), user_data=b"\x00")) == DEFAULT_GENERATION
    assert member_generation(Subscription(("t",))) == DEFAULT_GENERATION
    assert member_generation(Subscription(("t",), user_data=b"\0\0\0\7", generation_id=9)) == 9
    counts = {"t": 1}
    subscriptions = {
        "old": Subscription(("t",), user_data=struct.pack(">i", 7), owned_partitions=(T("t", 0),)),
        "new": Subscription(("t",), owned_partitions=(T("t", 0),), generation_id=6),
    }
    assert _granted(subscriptions, counts)["old"] == {T("t", 0)}


def test_unsubscribed_topic_is_handed_over_after_revocation() -> None:
    group = _group({"t": 2, "u": 2}, {"a": ("t", "u"), "b": ("t",)})
    group.converge()
    assert {tp.topic for tp in group.owned["a"]} >= {"u"}
    group.topics["a"] = ("u",)  # a stops consuming t
    group.rebalance()
    assert all(tp.topic == "u" for tp in group.owned["a"])
    group.converge()
    assert group.owned["b"] == {T("t", 0), T("t", 1)}
    assert group.owned["a"] == {T("u", 0), T("u", 1)}


def test_claims_on_deleted_topics_and_partitions_are_ignored() -> None:
    subscriptions = {
        "a": Subscription(
            ("t", "gone"),
            owned_partitions=(T("gone", 0), T("t", 9), T("t", -1), T("t", 1)),
            generation_id=2,
        ),
        "b": Subscription(("t",), generation_id=2),
    }
    granted = _granted(subscriptions, {"t": 2})
    assert granted == {"a": {T("t", 1)}, "b": {T("t", 0)}}


def test_different_subscriptions_balance_through_a_chain() -> None:
    # a holds 4 partitions of x; c is idle but subscribes only to y, which b holds.  The
    # balance needs x: a->b and y: b->c at once -- an augmenting path through b.
    counts = {"x": 4, "y": 2}
    subscriptions = {
        "a": Subscription(
            ("x",), owned_partitions=tuple(T("x", p) for p in range(4)), generation_id=1
        ),
        "b": Subscription(("x", "y"), owned_partitions=(T("y", 0), T("y", 1)), generation_id=1),
        "c": Subscription(("y",), generation_id=1),
    }
    # Revocation round: a gives up two x partitions, b both y partitions; nobody gains yet.
    assert _granted(subscriptions, counts) == {"a": {T("x", 0), T("x", 1)}, "b": set(), "c": set()}
    group = _group(counts, {"a": ("x",), "b": ("x", "y"), "c": ("y",)})
    group.owned = {m: set(s.owned_partitions) for m, s in subscriptions.items()}
    group.generation = 1
    assert group.converge() == 2
    assert group.owned == {
        "a": {T("x", 0), T("x", 1)},
        "b": {T("x", 2), T("x", 3)},
        "c": {T("y", 0), T("y", 1)},
    }


# --- properties -------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn, equal: bool) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    counts = draw(partition_counts(max_partitions=10))
    names = sorted(counts)
    members = draw(member_ids(min_size=1, max_size=6))
    shared = tuple(draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    return counts, {
        m: shared if equal else tuple(draw(st.lists(st.sampled_from(names), unique=True)))
        for m in members
    }


def _messy_start(group: Group, data: st.DataObject) -> None:
    """Give members owned partitions of an earlier, different group state (disjoint)."""
    pool = sorted(group.subscribed())
    for tp in pool:
        member = data.draw(st.sampled_from([None, *sorted(group.owned)]))
        if member is not None:
            group.owned[member].add(tp)


def _optimal_kept(owned_sizes: list[int], total: int) -> int:
    n = len(owned_sizes)
    min_quota, extras = divmod(total, n)
    quotas = [min_quota + 1] * extras + [min_quota] * (n - extras)
    return sum(min(o, q) for o, q in zip(sorted(owned_sizes, reverse=True), quotas, strict=True))


@settings(max_examples=120, deadline=None)
@given(scenarios(equal=True), st.data())
def test_equal_subscriptions_sticky_balanced_and_safe(
    scenario: tuple[dict[str, int], dict[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    counts, members = scenario
    group = _group(counts, members)
    _messy_start(group, data)
    before = {m: set(p) for m, p in group.owned.items()}
    total = len(group.subscribed())
    min_quota = total // len(members)
    group.rebalance()  # the revocation round: checked safe inside
    kept = {m: group.owned[m] & before[m] for m in members}
    for m in members:
        assert len(kept[m]) >= min(len(before[m]), min_quota)
    assert sum(map(len, kept.values())) == _optimal_kept([len(before[m]) for m in members], total)
    # The follow-up round completes the assignment; nothing moves after it.
    assert group.converge() <= 1
    assert set().union(*group.owned.values()) == group.subscribed()
    assert max(sizes(group.owned)) - min(sizes(group.owned)) <= 1
    assert all(group.owned[m] >= kept[m] for m in members)


@settings(max_examples=120, deadline=None)
@given(scenarios(equal=False), st.data())
def test_different_subscriptions_converge_to_exactly_once_and_balanced(
    scenario: tuple[dict[str, int], dict[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    counts, members = scenario
    group = _group(counts, members)
    _messy_start(group, data)
    group.converge()  # Group checks that no partition is given twice
    assert set().union(*group.owned.values()) == group.subscribed()
    for m, parts in group.owned.items():
        assert all(tp.topic in members[m] for tp in parts)
    # No member could take a partition from one holding two more (local balance).
    for a, b in itertools.permutations(members, 2):
        if len(group.owned[b]) <= len(group.owned[a]) - 2:
            assert not any(tp.topic in members[b] for tp in group.owned[a])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=1, max_value=3),
    st.lists(st.sets(st.sampled_from(["x", "y", "z"]), min_size=1), min_size=2, max_size=3),
    st.data(),
)
def test_different_subscriptions_reach_the_most_even_counts(
    partitions: int, subscribed: list[set[str]], data: st.DataObject
) -> None:
    """Against brute force: no assignment has a smaller sum of squared member counts."""
    counts = dict.fromkeys(sorted(set().union(*subscribed)), partitions)
    members = {f"m{i}": tuple(sorted(s)) for i, s in enumerate(subscribed)}
    group = _group(counts, members)
    _messy_start(group, data)
    group.converge()
    everything = sorted(group.subscribed())
    eligible = [[m for m in members if tp.topic in members[m]] for tp in everything]
    best = min(
        sum(c * c for c in _count(choice, members)) for choice in itertools.product(*eligible)
    )
    assert sum(n * n for n in sizes(group.owned)) == best


def _count(choice: tuple[str, ...], members: Mapping[str, object]) -> list[int]:
    return [choice.count(m) for m in members]


@settings(max_examples=80, deadline=None)
@given(scenarios(equal=True), st.data())
def test_member_joining_takes_only_its_share(
    scenario: tuple[dict[str, int], dict[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    counts, members = scenario
    group = _group(counts, members)
    group.converge()
    before = {m: set(p) for m, p in group.owned.items()}
    topics = next(iter(members.values()))
    group.join("newcomer!", topics)
    group.converge()
    moved = sum(len(before[m] - group.owned[m]) for m in members)
    assert moved == len(group.owned["newcomer!"])
    total = len(group.subscribed())
    assert len(group.owned["newcomer!"]) in {
        total // (len(members) + 1),
        -(-total // (len(members) + 1)),
    }
    assert all(group.owned[m] <= before[m] for m in members)  # old members only give


@settings(max_examples=80, deadline=None)
@given(scenarios(equal=True), st.data())
def test_member_leaving_moves_only_its_partitions(
    scenario: tuple[dict[str, int], dict[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    counts, members = scenario
    if len(members) < 2:
        members = {**members, "second": next(iter(members.values()))}
    group = _group(counts, members)
    group.converge()
    before = {m: set(p) for m, p in group.owned.items()}
    leaver = data.draw(st.sampled_from(sorted(members)))
    group.leave(leaver)
    assert group.converge() <= 1  # one round: nobody else claims the leaver's partitions
    assert all(group.owned[m] >= before[m] for m in group.owned)
    assert set().union(*group.owned.values()) == group.subscribed()
    assert max(sizes(group.owned)) - min(sizes(group.owned)) <= 1


@settings(max_examples=150, deadline=None)
@given(scenarios(equal=False), st.data())
def test_conflicting_and_garbage_claims_are_never_granted_twice(
    scenario: tuple[dict[str, int], dict[str, tuple[str, ...]]], data: st.DataObject
) -> None:
    """Members claim overlapping, stale, unknown and out-of-range partitions: a partition is
    granted to a member only if nobody else claims it, or if that member is its single
    highest-generation claimant (and still subscribes)."""
    counts, members = scenario
    claimable = st.builds(
        T, st.sampled_from([*counts, "ghost"]), st.integers(min_value=-2, max_value=12)
    )
    subscriptions = {
        m: Subscription(
            topics,
            owned_partitions=tuple(data.draw(st.lists(claimable, max_size=8))),
            generation_id=data.draw(st.none() | st.integers(min_value=0, max_value=3)),
        )
        for m, topics in members.items()
    }
    granted = _granted(subscriptions, counts)
    everything = {T(t, p) for t, n in counts.items() for p in range(n)}
    seen: set[T] = set()
    for member, parts in granted.items():
        assert not parts & seen
        seen |= parts
        assert parts <= everything
        assert all(tp.topic in members[member] for tp in parts)
        for tp in parts:
            claimants = [m for m, s in subscriptions.items() if tp in s.owned_partitions]
            if claimants and claimants != [member]:
                valid = [m for m in claimants if tp.topic in members[m]]
                top = max(member_generation(subscriptions[m]) for m in valid)
                assert [m for m in valid if member_generation(subscriptions[m]) == top] == [member]
    # The follow-up rounds settle on every subscribed partition exactly once.
    group = _group(counts, members)
    group.owned = {m: set(parts) for m, parts in granted.items()}
    group.converge()
    assert set().union(*group.owned.values()) == group.subscribed()
