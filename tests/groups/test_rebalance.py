"""Scripted rebalances: joins, leaders, generations, sessions, leaves, laggards, static
members — each against what a Kafka consumer relies on."""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.messages import (
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupMember,
    SyncGroupResponse,
)
from logd.groups.state import GroupState
from tests.groups.harness import REBALANCE_MS, SESSION_MS, Harness, Member, protocols

S = GroupState


def test_three_members_join_one_leader_one_generation_leader_assigns() -> None:
    h = Harness(auto_persist=False)  # initial delay 3000 ms, writes held until we say
    a, b, c = Member("a"), Member("b"), Member("c")
    rids = [h.join("g", m) for m in (a, b, c)]
    assert all(h.answer(r) is None for r in rids), "answered before the join phase ended"
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE
    h.run_until_answered(*rids)
    answers = [h.join_response(r, m) for r, m in zip(rids, (a, b, c), strict=True)]
    assert all(x is not None and x.error is ErrorCode.NONE for x in answers)
    assert {x.generation_id for x in answers if x} == {1}
    assert {x.leader_id for x in answers if x} == {a.member_id}  # the first to join leads
    assert {x.protocol_name for x in answers if x} == {"range"}
    leader_view = answers[0]
    assert leader_view is not None
    assert [m.member_id for m in leader_view.members] == [a.member_id, b.member_id, c.member_id]
    assert all(x is not None and not x.members for x in answers[1:])

    follower_syncs = [h.sync("g", m) for m in (b, c)]
    assert all(h.answer(r) is None for r in follower_syncs), "followers wait for the leader"
    plan = {a.member_id: b"A", b.member_id: b"B", c.member_id: b"C"}
    leader_sync = h.sync("g", a, plan)
    assert h.answer(leader_sync) is None, "nobody hears of it before it is durable"
    assert len(h.held) == 1
    write = h.persist_next()
    assert write.records[0].value is not None
    for rid, m, want in zip(
        [leader_sync, *follower_syncs], (a, b, c), (b"A", b"B", b"C"), strict=True
    ):
        body = h.sync_response(rid, m)
        assert body is not None and body.error is ErrorCode.NONE
        assert m.assignment == want
    assert h.coord.group_state("g") is S.STABLE
    assert [h.heartbeat("g", m) for m in (a, b, c)] == [ErrorCode.NONE] * 3


def test_first_join_of_a_dynamic_member_gets_its_id_first() -> None:
    h = Harness()
    m = Member("app")
    rid = h.send_join("g", m)
    body = h.join_response(rid, m)
    assert body is not None and body.error is ErrorCode.MEMBER_ID_REQUIRED
    assert body.member_id.startswith("app-") and m.member_id == body.member_id
    assert h.coord.group_state("g") is S.EMPTY  # nobody has joined yet
    # An id handed out and never used is forgotten after the session timeout.
    h.advance(SESSION_MS)
    assert h.coord.group_state("g") is None
    again = h.answer(h.send_join("g", m))
    assert isinstance(again, JoinGroupResponse) and again.error is ErrorCode.UNKNOWN_MEMBER_ID


def test_a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() -> None:
    h = Harness()
    a, b, c = Member("a"), Member("b"), Member("c")
    h.form("g", a, b, c)
    deadline = h.coord.next_deadline_ms()
    assert deadline == h.now + SESSION_MS, "the driver sleeps exactly until the next deadline"
    for _ in range(3):  # a and b heartbeat every 3 s, c is silent
        h.advance(3_000)
        assert [h.heartbeat("g", m) for m in (a, b)] == [ErrorCode.NONE, ErrorCode.NONE]
    h.advance(SESSION_MS - 9_000 - 1)
    assert h.coord.group_state("g") is S.STABLE, "not a millisecond early"
    h.advance(1)
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE
    assert h.heartbeat("g", c) is ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat("g", a) is ErrorCode.REBALANCE_IN_PROGRESS
    rids = [h.join("g", m) for m in (a, b)]
    answers = [h.join_response(r, m) for r, m in zip(rids, (a, b), strict=True)]
    assert all(x is not None and x.generation_id == 2 for x in answers)
    assert answers[0] is not None and len(answers[0].members) == 2


def test_a_leave_triggers_a_rebalance_without_the_leaver() -> None:
    h = Harness()
    a, b, c = Member("a"), Member("b"), Member("c")
    h.form("g", a, b, c)
    result = h.leave("g", LeaveGroupMember(c.member_id))
    assert [m.error for m in result.members] == [ErrorCode.NONE]
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE
    assert h.heartbeat("g", b) is ErrorCode.REBALANCE_IN_PROGRESS
    rids = [h.join("g", m) for m in (a, b)]
    h.run_until_answered(*rids)
    answers = [h.join_response(r, m) for r, m in zip(rids, (a, b), strict=True)]
    assert {x.generation_id for x in answers if x} == {2}
    assert answers[0] is not None
    assert [m.member_id for m in answers[0].members] == [a.member_id, b.member_id]
    # Leaving twice, or as someone unknown, is refused per member.
    again = h.leave("g", LeaveGroupMember(c.member_id), LeaveGroupMember("ghost"))
    assert [m.error for m in again.members] == [ErrorCode.UNKNOWN_MEMBER_ID] * 2


def test_rebalance_timeout_removes_members_that_do_not_rejoin() -> None:
    h = Harness()
    a, b, c = Member("a"), Member("b"), Member("c", session_ms=60_000)
    h.form("g", a, b, c)
    rid_a = h.join("g", a)  # the leader rejoins: a rebalance for everyone
    h.advance(1_000)
    rid_b = h.join("g", b)
    for _ in range(5):  # c keeps heartbeating but never rejoins (a stuck poll loop)
        assert h.heartbeat("g", c) is ErrorCode.REBALANCE_IN_PROGRESS
        h.advance(5_000)
    assert h.answer(rid_a) is None and h.answer(rid_b) is None
    h.advance(REBALANCE_MS - 26_000 - 1)
    assert h.answer(rid_a) is None, "not before the rebalance timeout"
    h.advance(1)
    body = h.join_response(rid_a, a)
    assert body is not None and body.generation_id == 2
    assert [m.member_id for m in body.members] == [a.member_id, b.member_id]
    assert h.heartbeat("g", c) is ErrorCode.UNKNOWN_MEMBER_ID


def test_a_follower_that_never_syncs_is_removed_after_the_rebalance_timeout() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b, assign=False)
    rid = h.sync("g", a, {a.member_id: b"A", b.member_id: b"B"})
    assert h.sync_response(rid, a) is not None and a.assignment == b"A"
    for _ in range(REBALANCE_MS // 3_000 - 1):  # b heartbeats, but never sends SyncGroup
        h.advance(3_000)
        assert [h.heartbeat("g", m) for m in (a, b)] == [ErrorCode.NONE, ErrorCode.NONE]
    h.advance(2_999)
    assert h.coord.group_state("g") is S.STABLE
    h.advance(1)
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE
    assert h.heartbeat("g", b) is ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat("g", a) is ErrorCode.REBALANCE_IN_PROGRESS


def test_static_member_restart_inside_the_session_timeout_moves_nothing() -> None:
    h = Harness()
    s1, s2 = Member("app", instance_id="app-1"), Member("app", instance_id="app-2")
    h.form("g", s1, s2)
    generation, old_id, assignment = s2.generation, s2.member_id, s2.assignment
    log_before = len(h.log)
    h.advance(SESSION_MS - 1_000)
    assert h.heartbeat("g", s1) is ErrorCode.NONE
    restarted = Member("app", instance_id="app-2")  # the same process, started again
    rid = h.join("g", restarted)
    body = h.join_response(rid, restarted)
    assert body is not None and body.error is ErrorCode.NONE
    assert restarted.member_id != old_id and body.generation_id == generation
    assert body.leader_id == s1.member_id and not body.members
    assert len(h.log) == log_before + 1, "the new member id is persisted before it is told"
    assert h.coord.group_state("g") is S.STABLE
    assert h.heartbeat("g", s1) is ErrorCode.NONE, "the others see no rebalance"
    sync = h.sync_response(h.sync("g", restarted), restarted)
    assert sync is not None and sync.error is ErrorCode.NONE
    assert restarted.assignment == assignment
    # The old incarnation (say it was only partitioned away) is fenced everywhere.
    assert h.heartbeat("g", s2) is ErrorCode.FENCED_INSTANCE_ID
    assert h.commit("g", {("t", 0): 1}, s2) == [ErrorCode.FENCED_INSTANCE_ID]
    assert h.answer(h.send_join("g", s2)) == JoinGroupResponse(
        ErrorCode.FENCED_INSTANCE_ID, s2.member_id
    )


def test_a_restarted_static_leader_is_not_told_it_leads() -> None:
    h = Harness()
    s1, s2 = Member("app", instance_id="app-1"), Member("app", instance_id="app-2")
    h.form("g", s1, s2)
    restarted = Member("app", instance_id="app-1")
    body = h.join_response(h.join("g", restarted), restarted)
    assert body is not None and body.error is ErrorCode.NONE
    # Kafka returns the old leader id: the new incarnation must not compute an assignment a
    # Stable group would not hand out.
    assert body.leader_id == s1.member_id != restarted.member_id
    described = h.coord.describe_groups(["g"]).groups[0]
    assert described.leader_id == restarted.member_id


def test_static_member_gone_past_its_session_timeout_is_removed() -> None:
    h = Harness()
    s1, s2 = Member("app", instance_id="app-1"), Member("app", instance_id="app-2")
    h.form("g", s1, s2)
    for _ in range(4):
        h.advance(3_000)
        assert h.heartbeat("g", s1) in (ErrorCode.NONE, ErrorCode.REBALANCE_IN_PROGRESS)
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE


def test_static_rejoin_with_a_protocol_change_rebalances() -> None:
    h = Harness()
    s1 = Member("app", instance_id="app-1", protocols=protocols("range", "roundrobin"))
    s2 = Member("app", instance_id="app-2", protocols=protocols("range", "roundrobin"))
    h.form("g", s1, s2)
    restarted = Member("app", instance_id="app-2", protocols=protocols("roundrobin"))
    h.join("g", restarted)
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE


def test_a_failed_write_of_a_static_rejoin_keeps_the_old_member_id() -> None:
    h = Harness()
    s1 = Member("app", instance_id="app-1")
    h.form("g", s1)
    h.auto_persist = False
    restarted = Member("app", instance_id="app-1")
    rid = h.join("g", restarted)
    h.persist_next(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    body = h.answer(rid)
    assert isinstance(body, JoinGroupResponse) and body.error is ErrorCode.NOT_COORDINATOR
    assert h.heartbeat("g", s1) is ErrorCode.NONE  # the old id is the one on record


def test_the_protocol_all_members_support_is_chosen_by_vote() -> None:
    h = Harness()
    a = Member("a", protocols=protocols("cooperative-sticky", "range"))
    b = Member("b", protocols=protocols("range", "cooperative-sticky"))
    c = Member("c", protocols=protocols("range", "roundrobin", "cooperative-sticky"))
    h.form("g", a, b, c)
    described = h.coord.describe_groups(["g"]).groups[0]
    assert described.protocol_name == "range"  # two votes to one


def test_a_member_without_a_common_protocol_is_refused() -> None:
    h = Harness()
    h.form("g", Member("a"), Member("b"))
    odd = Member("c", protocols=protocols("roundrobin"))
    rid = h.send_join("g", odd)
    body = h.answer(rid)
    assert isinstance(body, JoinGroupResponse)
    assert body.error is ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert h.coord.group_state("g") is S.STABLE
    # Another protocol type ("connect" workers) cannot join a consumer group either.
    req = JoinGroupRequest("g", "", "connect", (JoinGroupProtocol("range", b""),), 10_000, 10_000)
    h.coord.join_group(1_000, req, h.now)
    h.drain()
    body = h.answer(1_000)
    assert isinstance(body, JoinGroupResponse)
    assert body.error is ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_a_lone_member_cannot_change_the_protocol_type_by_rejoining() -> None:
    h = Harness()
    a = Member("a")
    h.form("g", a)
    req = JoinGroupRequest("g", a.member_id, "connect", a.protocols, 10_000, 10_000)
    h.coord.join_group(1_000, req, h.now)
    h.drain()
    assert h.answer(1_000) == JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, a.member_id)
    assert h.coord.group_state("g") is S.STABLE


def test_session_timeout_outside_the_allowed_range_is_refused() -> None:
    h = Harness(CoordinatorConfig(min_session_timeout_ms=6_000, max_session_timeout_ms=60_000))
    for session in (5_999, 60_001):
        m = Member("a", session_ms=session)
        body = h.answer(h.send_join("g", m))
        assert isinstance(body, JoinGroupResponse)
        assert body.error is ErrorCode.INVALID_SESSION_TIMEOUT
        assert str(session) in body.error_message
    assert h.coord.group_state("g") is None, "a refused join leaves nothing behind"


def test_initial_delay_waits_for_more_members_and_extends_while_they_come() -> None:
    h = Harness(CoordinatorConfig(initial_rebalance_delay_ms=3_000, min_session_timeout_ms=1_000))
    a, b, c = Member("a"), Member("b"), Member("c")
    rid_a = h.join("g", a)
    h.advance(2_000)
    rid_b = h.join("g", b)
    h.advance(1_000)  # the first delay ends; b came meanwhile: another 3 s
    assert h.answer(rid_a) is None
    h.advance(2_999)
    rid_c = h.join("g", c)
    h.advance(1)  # c came during the second delay: a third one
    assert h.answer(rid_a) is None
    h.advance(3_000)
    bodies = [h.join_response(r, m) for r, m in ((rid_a, a), (rid_b, b), (rid_c, c))]
    assert all(x is not None and x.generation_id == 1 for x in bodies)


def test_a_duplicate_join_answers_the_superseded_request() -> None:
    h = Harness()
    a = Member("a")
    first = h.join("g", a)
    second = h.send_join("g", a)  # the client timed out and retried
    assert h.answer(first) == JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS, a.member_id)
    h.run_until_answered(second)
    body = h.join_response(second, a)
    assert body is not None and body.error is ErrorCode.NONE


def test_sync_errors_follow_kafka() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b)
    stale = Member("a", member_id=a.member_id, generation=a.generation - 1)
    assert h.answer(h.sync("g", stale)) == SyncGroupResponse(ErrorCode.ILLEGAL_GENERATION)
    ghost = Member("x", member_id="x-1", generation=a.generation)
    assert h.answer(h.sync("g", ghost)) == SyncGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID)
    h.join("g", a)  # a rebalance starts
    assert h.answer(h.sync("g", b)) == SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)


def test_a_failed_assignment_write_fails_the_syncs_and_rebalances() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b, assign=False)
    h.auto_persist = False
    rid_b = h.sync("g", b)
    rid_a = h.sync("g", a, {a.member_id: b"A", b.member_id: b"B"})
    h.persist_next(ErrorCode.NOT_ENOUGH_REPLICAS)
    for rid in (rid_a, rid_b):
        assert h.answer(rid) == SyncGroupResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE)
    assert h.coord.group_state("g") is S.PREPARING_REBALANCE
