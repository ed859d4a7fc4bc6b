"""The client's group membership machine against the pure group coordinator, in-process
(``group_pair``): join, sync, rebalances in both protocols, fenced and unknown members, the
coordinator moving, static membership, the poll timeout -- and the table itself."""

from __future__ import annotations

import pytest

from logd.client.group import machine as machine_module
from logd.client.group.member_state import (
    ROUND,
    TRANSITIONS,
    IllegalTransitionError,
    MemberEvent,
    MemberState,
    next_state,
)
from logd.client.group.steps import AppStep, Effect, EventKind, FetchCommitted
from logd.client.types import OFFSET_STORED
from logd.errors import (
    ErrorCode,
    FencedInstanceIdError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from logd.groups.messages import HeartbeatRequest, HeartbeatResponse
from tests.client.group_pair import HEARTBEAT_MS, Member, Pair

S = MemberState
E = MemberEvent
ALL = {("t", p) for p in range(6)}


def stable_pair(*names: str, **options: object) -> tuple[Pair, list[Member]]:
    """Members that joined one after the other and settled."""
    pair = Pair()
    members = []
    for name in names:
        member = pair.member(name, **options)
        member.subscribe("t")
        pair.settle()
        members.append(member)
    return pair, members


def split_evenly(*members: Member) -> None:
    owned = [m.owned for m in members]
    assert set().union(*owned) == ALL
    assert sum(len(o) for o in owned) == len(ALL)  # disjoint
    assert {len(o) for o in owned} == {len(ALL) // len(members)}
    assert all(m.state is S.STABLE for m in members)


def test_a_first_member_joins_with_the_id_it_is_given_leads_and_takes_everything() -> None:
    _, (a,) = stable_pair("a")
    # KIP-394: the first JoinGroup is answered MEMBER_ID_REQUIRED, the second joins.
    assert a.steps == ["join", "join", "counts", "sync", "fetch", "assign"]
    assert a.served == [(EventKind.ASSIGN, [("t", p, OFFSET_STORED) for p in range(6)])]
    assert a.state is S.STABLE and a.owned == ALL
    m = a.machine
    assert (m.is_leader, m.generation, m.rebalances, m.protocol) == (
        True, 1, 1, "cooperative-sticky")  # fmt: skip
    assert Effect.HEARTBEAT_NOW in a.effects
    assert a.commit({("t", 0): 5}) is None
    assert a.machine.leave_request() is not None  # a dynamic member leaves on close


def test_cooperative_rebalance_moves_only_what_moves_in_two_rounds() -> None:
    pair, (a,) = stable_pair("a")
    assert a.commit({("t", p): 10 + p for p in range(6)}) is None
    b = pair.member("b")
    b.subscribe("t")
    pair.settle()
    split_evenly(a, b)
    # Round 1: a keeps three partitions and gives three up (and is assigned nothing new);
    # round 2 (KIP-429's follow-up) hands those to b, at the offsets a committed.
    assert [kind for kind, _ in a.served] == [
        EventKind.ASSIGN, EventKind.REVOKE, EventKind.ASSIGN, EventKind.ASSIGN]  # fmt: skip
    assert a.served[2][1] == a.served[3][1] == []
    assert {(t, p) for t, p, _ in a.served[1][1]} == b.owned
    assert b.served[0] == (EventKind.ASSIGN, [])
    assert b.served[1:] == [(EventKind.ASSIGN, [(t, p, 10 + p) for t, p in sorted(b.owned)])]
    assert "revoke" not in a.steps[: a.steps.index("assign")]  # nothing given up before joining
    assert a.machine.generation == b.machine.generation == 3


def test_eager_rebalance_gives_everything_back_before_joining() -> None:
    pair, (a,) = stable_pair("a", partition_assignment_strategy=["range"])
    b = pair.member("b", partition_assignment_strategy=["range"])
    b.subscribe("t")
    pair.settle()
    split_evenly(a, b)
    assert a.served[1] == (EventKind.REVOKE, [("t", p, -1001) for p in range(6)])
    assert a.steps[6:8] == ["revoke", "join"]  # given back, then joined
    assert [k for k, _ in a.served] == [EventKind.ASSIGN, EventKind.REVOKE, EventKind.ASSIGN]
    assert [k for k, _ in b.served] == [EventKind.ASSIGN]
    assert a.machine.generation == 2  # one round


def test_a_member_whose_session_expired_loses_its_partitions_and_rejoins_as_new() -> None:
    pair, (a, b) = stable_pair("a", "b")
    old_id, b_owned = b.machine.member_id, b.owned
    b.frozen = True  # a paused process: no heartbeats, no steps
    pair.advance(11_000)  # past b's session: the coordinator removes it
    pair.settle()
    assert a.owned == ALL and a.state is S.STABLE
    b.frozen = False
    pair.advance(HEARTBEAT_MS)  # b's heartbeat: UNKNOWN_MEMBER_ID
    assert b.machine.member_id == "" and b.state is S.JOIN_DUE
    pair.settle()
    split_evenly(a, b)
    assert (EventKind.LOST, [(t, p, -1001) for t, p in sorted(b_owned)]) in b.served
    assert b.steps.count("lost") == 1 and b.machine.member_id not in ("", old_id)


def test_a_commit_with_a_stale_generation_drops_it_and_rejoins_after_the_round() -> None:
    pair, (a, b) = stable_pair("a", "b")
    c = pair.member("c")
    c.subscribe("t")
    c.step_until(lambda: c.parked is not None and c.steps.count("join") == 2)
    pair.advance(HEARTBEAT_MS)  # a and b hear of the rebalance and rejoin
    for member in (a, b):
        member.step_until(lambda m=member: m.parked is not None)
    assert a.answered and b.answered and c.answered  # the new generation, not delivered yet
    old = b.machine.generation
    error = b.commit({("t", 0): 1})  # as the generation b still believes in
    assert isinstance(error, IllegalGenerationError)
    assert b.machine.generation == -1 and b.machine.member_id and b.state is S.JOINING
    pair.settle()  # the round goes on, then another (the rejoin noted during it)
    split_evenly(a, b, c)
    assert b.machine.generation > old + 1
    # b joined the new generation with its partitions declared owned: they are not lost.
    assert "lost" not in b.steps


def test_a_static_member_restarted_in_its_session_keeps_its_partitions_and_fences_the_old() -> None:
    pair = Pair()
    old = pair.member("old", group_instance_id="x", session_timeout_ms=30_000)
    other = pair.member("other", group_instance_id="y", session_timeout_ms=30_000)
    for member in (old, other):
        member.subscribe("t")
        pair.settle()
    split_evenly(old, other)
    assert old.machine.leave_request() is None  # a static member does not leave
    generation, before, served_by_other = old.machine.generation, old.owned, list(other.served)
    old.frozen = True  # it "restarted": the new process has the same instance id
    new = pair.member("new", group_instance_id="x", session_timeout_ms=30_000)
    new.subscribe("t")
    pair.settle()
    assert new.owned == before and new.state is S.STABLE
    assert new.machine.generation == generation  # no rebalance
    assert other.served == served_by_other  # the other member saw nothing
    old.frozen = False
    pair.advance(HEARTBEAT_MS)  # the old process heartbeats: fenced
    assert old.state is S.FATAL and isinstance(old.machine.fatal, FencedInstanceIdError)
    assert Effect.NOTIFY in old.effects
    assert old.machine.next_step() is None and old.machine.heartbeat(0.0) is None


def test_the_coordinator_moving_is_followed_between_rounds_and_inside_one() -> None:
    pair, (a,) = stable_pair("a")
    generation = a.machine.generation
    pair.move_coordinator()
    pair.advance(2 * HEARTBEAT_MS)  # NOT_COORDINATOR: look it up again; then heartbeats go on
    assert Effect.FORGET_COORDINATOR in a.effects and a.link is pair.coordinator
    assert a.state is S.STABLE and a.machine.generation == generation
    b = pair.member("b")
    b.subscribe("t")
    b.step_until(lambda: b.parked is not None and b.steps.count("join") == 2)
    pair.move_coordinator()  # b's parked JoinGroup is answered NOT_COORDINATOR
    assert b.step() and b.state is S.JOIN_DUE
    assert Effect.BACK_OFF in b.effects and b.link is pair.coordinator
    pair.settle()
    split_evenly(a, b)


def test_a_member_that_stops_polling_leaves_and_rejoins_when_it_polls_again() -> None:
    pair, (a, b) = stable_pair("a", "b", max_poll_interval_ms=5_000)
    a_owned = a.owned
    a.stop_polling()
    pair.advance(6 * HEARTBEAT_MS)
    assert a.state is S.POLL_TIMED_OUT and Effect.VOID in a.effects
    assert a.machine.member_id == "" and a.machine.heartbeat(99.0) is None
    pair.settle()
    assert b.owned == ALL  # a left the group: b took everything
    a.poll_again()
    assert a.state is S.JOIN_DUE
    pair.settle()
    split_evenly(a, b)
    assert (EventKind.LOST, [(t, p, -1001) for t, p in sorted(a_owned)]) in a.served


def test_a_commit_answered_after_a_poll_timeout_while_the_partitions_are_lost() -> None:
    """An asynchronous commit made as the old member, answered UNKNOWN_MEMBER_ID only once
    the member polls again and is handing its lost partitions back (GivingUp): the answer
    is about an identity left behind, and the round goes on to join (the race that once
    left a rejoin noted outside any round: next_step's invariant broke)."""
    pair, (a, b) = stable_pair("a", "b", max_poll_interval_ms=5_000)
    m = a.machine
    made = m.commit_request({("t", p): 1 for p in sorted(a.owned)})
    a.stop_polling()
    pair.advance(6 * HEARTBEAT_MS)
    assert a.state is S.POLL_TIMED_OUT
    a.poll_again()
    step = m.next_step()
    assert isinstance(step, AppStep) and step.kind is EventKind.LOST and a.state is S.GIVING_UP
    assert m.on_commit_error(made, UnknownMemberIdError("")) is Effect.NONE
    # A rejoin asked for while giving up (here: from a current identity) is served by the
    # JoinGroup that follows: no second round, and the invariant holds after GivenUp.
    assert m.on_commit_error(m.commit_request({}), RebalanceInProgressError("")) is Effect.WAKE
    assert a.state is S.GIVING_UP
    pair.settle()
    split_evenly(a, b)
    assert a.steps.count("lost") == 1


def test_a_commit_answer_about_a_generation_left_behind_changes_nothing() -> None:
    pair, (a,) = stable_pair("a")
    m = a.machine
    made = m.commit_request({("t", 0): 1})
    m.request_rejoin()
    pair.settle()
    assert m.generation > made.generation_id and a.state is S.STABLE
    assert m.on_commit_error(made, IllegalGenerationError("")) is Effect.NONE
    assert m.on_commit_error(made, UnknownMemberIdError("")) is Effect.NONE
    assert a.state is S.STABLE and m.generation > made.generation_id and m.member_id


def test_heartbeat_and_commit_answers_that_mean_rejoin() -> None:
    pair, (a,) = stable_pair("a")
    m = a.machine
    request = HeartbeatRequest("g", m.generation, m.member_id)
    answer = HeartbeatResponse(ErrorCode.REBALANCE_IN_PROGRESS)
    assert m.on_heartbeat(request, answer) is Effect.WAKE and m.state is S.JOIN_DUE
    # An answer about a generation left behind meanwhile changes nothing.
    stale = HeartbeatRequest("g", m.generation - 1, m.member_id)
    assert m.on_heartbeat(stale, HeartbeatResponse(ErrorCode.ILLEGAL_GENERATION)) is Effect.NONE
    pair.settle()
    made = m.commit_request({("t", 0): 1})
    assert m.on_commit_error(made, RebalanceInProgressError("")) is Effect.WAKE
    assert m.state is S.JOIN_DUE and m.generation >= 0  # a rejoin keeps the generation
    request = HeartbeatRequest("g", m.generation, m.member_id)
    answer = HeartbeatResponse(ErrorCode.ILLEGAL_GENERATION)
    assert m.on_heartbeat(request, answer) is Effect.WAKE
    assert m.generation == -1 and m.member_id  # the member id stays
    step = m.next_step()
    assert isinstance(step, AppStep) and step.kind is EventKind.LOST


def test_an_outcome_the_machine_no_longer_waits_for_is_dropped() -> None:
    pair = Pair()
    a = pair.member("a")
    a.subscribe("t")
    pair.settle(done=lambda: isinstance(a.machine.next_step(), FetchCommitted))
    step = a.machine.next_step()
    assert isinstance(step, FetchCommitted)
    a.unsubscribe()
    assert a.machine.on_committed(step, {}) is Effect.NONE
    assert a.state is S.UNSUBSCRIBED and not a.owned and a.machine.next_step() is None


def test_a_subscription_change_rejoins_and_a_foreign_assignment_is_refused() -> None:
    pair = Pair({"t": 6, "u": 2})
    a = pair.member("a")
    a.subscribe("t")
    pair.settle()
    a.subscribe("t", "u")
    assert a.state is S.JOIN_DUE
    pair.settle()
    assert a.owned == ALL | {("u", 0), ("u", 1)}
    a.subscribe("u", "t")  # unchanged: nothing to do
    assert a.state is S.STABLE
    # A pattern: the topics are the cluster's names it matches.
    a.subscribe(matcher=lambda name: name == "u")
    pair.settle()
    assert a.owned == {("u", 0), ("u", 1)} and a.machine.topics == {"u"}
    # The subscription changes while a JoinGroup is parked: the assignment made for the old
    # one is refused (Kafka's checkAssignmentMatchedSubscription), and the member rejoins.
    b = pair.member("b")
    b.subscribe("t")
    b.step_until(lambda: b.parked is not None and b.steps.count("join") == 2)
    b.subscribe("u")
    assert b.state is S.JOINING
    pair.settle()
    assert b.owned <= {("u", 0), ("u", 1)} and b.owned and b.state is S.STABLE
    assert not [p for _, parts in b.served for t, p, _ in parts if t == "t"]


# -- the table -------------------------------------------------------------------------------


def test_fatal_is_terminal_and_only_an_unsubscribed_or_fatal_member_subscribes() -> None:
    assert {e for (s, e) in TRANSITIONS if s is S.FATAL} == {E.REJOIN, E.UNSUBSCRIBE, E.SUBSCRIBE}
    assert all(TRANSITIONS[(S.FATAL, e)] is S.FATAL for e in (E.REJOIN, E.UNSUBSCRIBE))
    assert {s for (s, e) in TRANSITIONS if e is E.SUBSCRIBE} == {S.UNSUBSCRIBED, S.FATAL}
    # A rejoin asked for during a round keeps the round going.
    assert all(TRANSITIONS[(s, E.REJOIN)] is s for s in ROUND)


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in S for e in E if (s, e) not in TRANSITIONS],
    ids=lambda x: x.name,
)
def test_a_pair_outside_the_table_raises(state: MemberState, event: MemberEvent) -> None:
    with pytest.raises(IllegalTransitionError, match=event.name):
        next_state(state, event)


def test_the_scenarios_above_take_every_step_of_a_round(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[tuple[MemberState, MemberEvent]] = set()

    def recording(state: MemberState, event: MemberEvent) -> MemberState:
        seen.add((state, event))
        return next_state(state, event)

    monkeypatch.setattr(machine_module, "next_state", recording)
    for scenario in (
        test_a_first_member_joins_with_the_id_it_is_given_leads_and_takes_everything,
        test_cooperative_rebalance_moves_only_what_moves_in_two_rounds,
        test_eager_rebalance_gives_everything_back_before_joining,
        test_a_member_whose_session_expired_loses_its_partitions_and_rejoins_as_new,
        test_a_commit_with_a_stale_generation_drops_it_and_rejoins_after_the_round,
        test_a_static_member_restarted_in_its_session_keeps_its_partitions_and_fences_the_old,
        test_the_coordinator_moving_is_followed_between_rounds_and_inside_one,
        test_a_member_that_stops_polling_leaves_and_rejoins_when_it_polls_again,
        test_heartbeat_and_commit_answers_that_mean_rejoin,
        test_an_outcome_the_machine_no_longer_waits_for_is_dropped,
        test_a_subscription_change_rejoins_and_a_foreign_assignment_is_refused,
    ):
        scenario()
    # Every transition written out in the table (the generated families -- REJOIN, FAIL,
    # FATAL, POLL_TIMEOUT, UNSUBSCRIBE from each state -- at least once each).
    explicit = {
        (S.UNSUBSCRIBED, E.SUBSCRIBE), (S.JOIN_DUE, E.GIVE_UP), (S.GIVING_UP, E.GIVEN_UP),
        (S.JOIN_DUE, E.JOIN), (S.JOINING, E.ELECTED), (S.JOINING, E.SYNC),
        (S.ASSIGNING, E.SYNC), (S.SYNCING, E.REVOKE), (S.SYNCING, E.FETCH),
        (S.SYNCING, E.ADD), (S.REVOKING, E.ADD), (S.FETCHING, E.ADD), (S.ADDING, E.ADDED),
        (S.JOINING, E.RETRY), (S.STABLE, E.REJOIN), (S.POLL_TIMED_OUT, E.POLLED),
    }  # fmt: skip
    assert explicit - seen == set()
    for event in (E.REJOIN, E.FAIL, E.FATAL, E.POLL_TIMEOUT, E.UNSUBSCRIBE):
        assert any(e is event for _, e in seen), event
    assert (S.JOINING, E.REJOIN) in seen  # a rejoin noted during a round
