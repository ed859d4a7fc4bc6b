"""The consumer-protocol group (KIP-848) as a pure state machine: epochs, server-side
assignment, revoke-before-assign reconciliation, fencing, leaving and expiry."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.errors import ErrorCode
from logd.groups.consumer_group import (
    ConsumerGroup,
    ConsumerGroupConfig,
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.reconcile import MemberState, Partitions
from partitioning import TopicPartition

TOPICS = {"t": 4}
_ids = itertools.count()


def tps(*partitions: int, topic: str = "t") -> Partitions:
    return frozenset(TopicPartition(topic, p) for p in partitions)


def new_id() -> str:
    return f"m{next(_ids)}"


class Member:
    """A well-behaved consumer: remembers its id, epoch and what it owns, and gives up what
    it is told to at its next heartbeat."""

    def __init__(self, group: ConsumerGroup, member_id: str, topics: Iterable[str] = ("t",)):
        self.group, self.member_id, self.topics = group, member_id, tuple(topics)
        self.epoch, self.owned = 0, frozenset[TopicPartition]()
        self.now = 0

    def beat(self, now: int = 0, **changes: object) -> ConsumerHeartbeatAnswer:
        joining = self.epoch == 0
        req = ConsumerHeartbeat(
            group_id="g",
            member_id=self.member_id,
            member_epoch=self.epoch,
            rebalance_timeout_ms=30_000 if joining else -1,
            subscribed_topics=self.topics if joining else None,
            owned=self.owned,
            **changes,  # type: ignore[arg-type]
        )
        answer = self.group.heartbeat(req, TOPICS, now, new_id)
        if answer.error is ErrorCode.NONE:
            self.epoch = answer.member_epoch
            if answer.assignment is not None:
                self.owned = answer.assignment
        return answer


def group(**config: int) -> ConsumerGroup:
    return ConsumerGroup("g", ConsumerGroupConfig(**config))


def test_a_first_member_gets_every_partition_at_epoch_one() -> None:
    g = group()
    a = Member(g, "a")
    answer = a.beat()
    assert answer == ConsumerHeartbeatAnswer(ErrorCode.NONE, "a", 1, 5_000, tps(0, 1, 2, 3))
    assert g.state is ConsumerGroupState.STABLE
    assert a.beat().assignment is None  # nothing changed: no assignment sent


def test_a_second_member_waits_until_the_first_revokes() -> None:
    g = group()
    a, b = Member(g, "a"), Member(g, "b")
    a.beat()
    joined = b.beat()
    assert (joined.member_epoch, joined.assignment) == (2, frozenset())  # all still a's
    assert g.members["b"].state is MemberState.UNRELEASED_PARTITIONS
    told = a.beat()  # a learns what to give up; its epoch waits
    assert told.member_epoch == 1 and told.assignment is not None
    assert g.members["a"].state is MemberState.UNREVOKED_PARTITIONS
    revoking = g.members["a"].revoking
    assert len(told.assignment) == 2 and len(revoking) == 2
    assert b.beat().assignment is None  # not released yet: b still gets nothing
    assert a.beat().member_epoch == 2  # a's heartbeat shows it gave them up
    got = b.beat()
    assert got.assignment == revoking
    assert a.owned | b.owned == tps(0, 1, 2, 3) and not a.owned & b.owned
    assert g.state is ConsumerGroupState.STABLE


def test_a_member_that_leaves_hands_everything_to_the_other() -> None:
    g = group()
    a, b = Member(g, "a"), Member(g, "b")
    for _ in range(3):
        a.beat(), b.beat()
    assert g.state is ConsumerGroupState.STABLE
    left = g.heartbeat(ConsumerHeartbeat("g", "a", -1), TOPICS, 0, new_id)
    assert (left.error, left.member_epoch) == (ErrorCode.NONE, -1)
    assert b.beat().assignment == tps(0, 1, 2, 3)
    assert g.state is ConsumerGroupState.STABLE and list(g.members) == ["b"]


def test_epochs_fence_zombies_and_forgive_a_lost_answer() -> None:
    g = group()
    a, b = Member(g, "a"), Member(g, "b")
    a.beat(), b.beat(), a.beat(), a.beat(), b.beat()
    member = g.members["a"]
    assert member.member_epoch == 2 and member.previous_member_epoch == 1
    ahead = g.heartbeat(ConsumerHeartbeat("g", "a", 3, owned=a.owned), TOPICS, 0, new_id)
    assert ahead.error is ErrorCode.FENCED_MEMBER_EPOCH
    # The answer that moved a to epoch 2 was lost: epoch 1 with a subset of its partitions.
    lost = g.heartbeat(ConsumerHeartbeat("g", "a", 1, owned=a.owned), TOPICS, 0, new_id)
    assert (lost.error, lost.member_epoch) == (ErrorCode.NONE, 2)
    stale = g.heartbeat(ConsumerHeartbeat("g", "a", 1, owned=tps(0, 1, 2, 3)), TOPICS, 0, new_id)
    assert stale.error is ErrorCode.FENCED_MEMBER_EPOCH
    unknown = g.heartbeat(ConsumerHeartbeat("g", "zz", 1, owned=frozenset()), TOPICS, 0, new_id)
    assert unknown.error is ErrorCode.UNKNOWN_MEMBER_ID


def test_a_fenced_member_rejoins_with_epoch_zero_and_owns_nothing_meanwhile() -> None:
    g = group()
    a = Member(g, "a")
    a.beat()
    a.epoch, a.owned = 0, frozenset()  # the client lost its state (fenced) and rejoins
    answer = a.beat()
    assert (answer.member_epoch, answer.assignment) == (1, tps(0, 1, 2, 3))


def test_requests_checked_as_kafka_checks_them() -> None:
    g = group()

    def error(req: ConsumerHeartbeat) -> ErrorCode:
        return g.heartbeat(req, TOPICS, 0, new_id).error

    join = ConsumerHeartbeat("g", "a", 0, rebalance_timeout_ms=1, subscribed_topics=("t",),
                             owned=frozenset())  # fmt: skip
    assert error(ConsumerHeartbeat("g", "a", 0, subscribed_topics=("t",), owned=frozenset())) is (
        ErrorCode.INVALID_REQUEST
    )  # no rebalance timeout
    assert error(ConsumerHeartbeat("g", "a", 0, rebalance_timeout_ms=1, owned=frozenset())) is (
        ErrorCode.INVALID_REQUEST
    )  # no subscription
    assert error(ConsumerHeartbeat("", "a", 0)) is ErrorCode.INVALID_REQUEST
    assert error(ConsumerHeartbeat("g", "", 3)) is ErrorCode.INVALID_REQUEST
    from dataclasses import replace

    assert error(replace(join, server_assignor="nope")) is ErrorCode.UNSUPPORTED_ASSIGNOR
    assert error(replace(join, subscribed_regex="(t")) is ErrorCode.INVALID_REGULAR_EXPRESSION
    assert error(replace(join, subscribed_regex="t(?=x)")) is ErrorCode.INVALID_REGULAR_EXPRESSION
    assert error(replace(join, owned=tps(1))) is ErrorCode.INVALID_REQUEST
    assert not g.members
    generated = g.heartbeat(replace(join, member_id=""), TOPICS, 0, lambda: "given")
    assert generated.member_id == "given"  # version 0: the coordinator names the member
    assert len(group(max_size=1).members) == 0
    full = group(max_size=1)
    Member(full, "a").beat()
    assert Member(full, "b").beat().error is ErrorCode.GROUP_MAX_SIZE_REACHED


def test_sessions_and_revocations_expire() -> None:
    g = group(session_timeout_ms=1_000)
    a, b = Member(g, "a"), Member(g, "b")
    a.beat(0)
    b.beat(0)
    a.beat(500)  # told to revoke; its rebalance timeout (30 s) starts now
    b.beat(900)
    assert g.next_deadline_ms() == 1_500  # a's session, from its heartbeat at 500
    assert g.expire(1_499) == []
    assert g.expire(1_500) == ["a"]  # b's runs until 1_900
    assert b.beat(1_600).assignment == tps(0, 1, 2, 3)
    # A member that never gives up what it is told to is fenced after its rebalance timeout.
    g2 = group(session_timeout_ms=100_000)
    c, d = Member(g2, "c"), Member(g2, "d")
    c.beat(0), d.beat(0), c.beat(10)
    assert g2.members["c"].state is MemberState.UNREVOKED_PARTITIONS
    g2.heartbeat(ConsumerHeartbeat("g", "c", c.epoch, owned=tps(0, 1, 2, 3)), TOPICS, 20, new_id)
    assert g2.expire(30_009) == [] and g2.expire(30_010) == ["c"]
    assert d.beat(30_020).assignment == tps(0, 1, 2, 3)


def test_subscriptions_new_partitions_and_the_range_assignor() -> None:
    g = group()
    a, b = Member(g, "a", ("t", "u")), Member(g, "b", ("t", "u"))
    topics = {"t": 2, "u": 2}
    answers = {}
    for _ in range(4):
        for m in (a, b):
            req = ConsumerHeartbeat(
                "g", m.member_id, m.epoch, rebalance_timeout_ms=1 if m.epoch == 0 else -1,
                subscribed_topics=m.topics if m.epoch == 0 else None, server_assignor="range",
                owned=m.owned,
            )  # fmt: skip
            answers[m.member_id] = answer = g.heartbeat(req, topics, 0, new_id)
            m.epoch = answer.member_epoch
            m.owned = answer.assignment if answer.assignment is not None else m.owned
    # Range: partition i of each topic on the same member.
    assert a.owned == tps(0) | tps(0, topic="u") and b.owned == tps(1) | tps(1, topic="u")
    epoch = g.group_epoch
    g.heartbeat(ConsumerHeartbeat("g", "a", a.epoch, owned=a.owned), {"t": 4, "u": 2}, 0, new_id)
    assert g.group_epoch == epoch + 1  # t grew: a new target
    assert g.target["a"] | g.target["b"] == tps(0, 1, 2, 3) | tps(0, 1, topic="u")


def test_offset_commits_and_fetches_are_fenced_by_member_epoch() -> None:
    g = group()
    assert g.validate_offset_commit("", -1) is ErrorCode.NONE  # an admin, empty group
    a = Member(g, "a")
    a.beat()
    assert g.validate_offset_commit("", -1) is ErrorCode.UNKNOWN_MEMBER_ID
    assert g.validate_offset_commit("a", 1) is ErrorCode.NONE
    assert g.validate_offset_commit("a", 0) is ErrorCode.STALE_MEMBER_EPOCH
    assert g.validate_offset_commit("x", 1) is ErrorCode.UNKNOWN_MEMBER_ID
    assert g.validate_offset_fetch("", -1) is ErrorCode.NONE
    assert g.validate_offset_fetch("a", 2) is ErrorCode.STALE_MEMBER_EPOCH


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["beat", "beat", "leave"])),
                max_size=40))  # fmt: skip
def test_no_partition_is_ever_owned_twice_and_the_group_settles(
    steps: list[tuple[int, str]],
) -> None:
    """Any order of heartbeats and leaves of four members: no partition is ever in two
    members' hands; once everyone keeps heartbeating, every partition is owned, once."""
    g = group()
    members = [Member(g, f"m{i}") for i in range(4)]

    def check() -> None:
        held = [m.owned for m in members]
        for x, y in itertools.combinations(held, 2):
            assert not x & y, (x, y)

    for index, action in steps:
        m = members[index]
        if action == "leave" and m.member_id in g.members:
            g.heartbeat(ConsumerHeartbeat("g", m.member_id, -1), TOPICS, 0, new_id)
            m.epoch, m.owned = 0, frozenset()
        else:
            assert m.beat().error is ErrorCode.NONE
        check()
    live = [m for m in members if m.member_id in g.members]
    for _ in range(4):
        for m in live:
            assert m.beat().error is ErrorCode.NONE
            check()
    if live:
        assert g.state is ConsumerGroupState.STABLE
        assert frozenset().union(*(m.owned for m in live)) == tps(0, 1, 2, 3)
        sizes = sorted(len(m.owned) for m in live)
        assert sizes[-1] - sizes[0] <= 1  # uniform
