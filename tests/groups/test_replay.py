"""A new coordinator rebuilt from __consumer_offsets knows what the old one persisted:
every committed offset, the last generation and its members; tombstones delete."""

from __future__ import annotations

import pytest

from logd.errors import CorruptRecordError, ErrorCode, LogdError
from logd.groups.config import CoordinatorConfig
from logd.groups.coordinator import CoordinatorStatus, GroupCoordinator
from logd.groups.log_format import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadataValue,
    encode_group_metadata_key,
    encode_group_metadata_value,
)
from logd.groups.messages import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupResponse,
    LeaveGroupMember,
    OffsetCommitResponse,
    SyncGroupResponse,
)
from logd.groups.partition import offsets_partition_for
from logd.groups.state import GroupState
from tests.groups.harness import SESSION_MS, Harness, Member

S = GroupState


def test_replay_rebuilds_offsets_generation_members_and_assignments() -> None:
    old = Harness()
    a, b = Member("a"), Member("b")
    old.form("g", a, b)
    old.commit("g", {("t", 0): 10, ("t", 1): 20}, a)
    old.leave("g", LeaveGroupMember(b.member_id))
    rid = old.join("g", a)
    assert old.join_response(rid, a) is not None and a.generation == 2
    old.sync("g", a, {a.member_id: b"everything"})
    old.commit("g", {("t", 0): 15, ("t", 1): 25}, a)
    old.commit("simple", {("u", 3): 7})

    new = Harness(replay=old.log, now_ms=old.now + 1_000)
    assert new.committed("g") == {("t", 0): 15, ("t", 1): 25}
    assert new.committed("simple") == {("u", 3): 7}
    described = new.coord.describe_groups(["g"]).groups[0]
    assert described.state is S.STABLE
    assert described.generation_id == 2 and described.leader_id == a.member_id
    assert [(m.member_id, m.assignment) for m in described.members] == [
        (a.member_id, b"everything")
    ]
    # The surviving member carries on with the new coordinator as if nothing happened,
    # and its fencing carries over: the member that left stays gone.
    assert new.heartbeat("g", a) is ErrorCode.NONE
    assert new.commit("g", {("t", 0): 16}, a) == [ErrorCode.NONE]
    assert new.heartbeat("g", b) is ErrorCode.UNKNOWN_MEMBER_ID
    stale = Member("a", member_id=a.member_id, generation=1)
    assert new.commit("g", {("t", 0): 99}, stale) == [ErrorCode.ILLEGAL_GENERATION]


def test_a_loaded_member_that_never_comes_back_expires_after_its_session() -> None:
    old = Harness()
    a = Member("a")
    old.form("g", a)
    new = Harness(replay=old.log)
    new.advance(SESSION_MS)
    assert new.coord.group_state("g") is S.EMPTY  # rebalanced without it, then emptied


def test_a_static_member_restarting_during_failover_keeps_its_assignment() -> None:
    old = Harness()
    s = Member("app", instance_id="app-1")
    old.form("g", s)
    new = Harness(replay=old.log)
    restarted = Member("app", instance_id="app-1")
    body = new.join_response(new.join("g", restarted), restarted)
    assert body is not None and body.error is ErrorCode.NONE
    sync = new.sync_response(new.sync("g", restarted), restarted)
    assert sync is not None and restarted.assignment == s.assignment
    assert new.coord.group_state("g") is S.STABLE


def test_tombstones_delete_what_they_name() -> None:
    old = Harness()
    a = Member("a")
    old.form("g", a)
    old.commit("g", {("t", 0): 1}, a)
    old.leave("g", LeaveGroupMember(a.member_id))
    old.run_timers(old.now + 1)
    old.coord.delete_groups(77, ["g"], old.now)
    old.drain()
    old.commit("other", {("t", 0): 2})
    new = Harness(replay=old.log)
    assert new.coord.group_state("g") is None
    assert new.committed("g") == {}
    assert new.committed("other") == {("t", 0): 2}
    # A group made again after the delete starts from scratch.
    again = Member("a2")
    new.form("g", again)
    assert again.generation == 1


def test_an_emptied_group_comes_back_empty_with_its_generation() -> None:
    old = Harness()
    a = Member("a")
    old.form("g", a)
    old.leave("g", LeaveGroupMember(a.member_id))
    old.run_timers(old.now + 1)
    new = Harness(replay=old.log)
    described = new.coord.describe_groups(["g"]).groups[0]
    assert described.state is S.EMPTY and described.generation_id == 2
    assert described.members == ()


def test_requests_while_loading_are_answered_as_kafka_does() -> None:
    h = Harness(loaded=False)
    coord = h.coord
    assert coord.status is CoordinatorStatus.LOADING
    m = Member("a", member_id="a-1", generation=1)
    assert h.answer(h.send_join("g", Member("a"))) == JoinGroupResponse(
        ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, "", error_message="the coordinator is loading"
    )
    sync = h.answer(h.sync("g", m))
    assert isinstance(sync, SyncGroupResponse) and sync.error is ErrorCode.REBALANCE_IN_PROGRESS
    coord.heartbeat(500, HeartbeatRequest("g", 1, "a-1"), 0)
    assert coord.ready().responses[0].body == HeartbeatResponse(ErrorCode.NONE)
    assert h.commit("g", {("t", 0): 1}) == [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]
    assert coord.fetch_offsets("g").error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert coord.list_groups().error is ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    assert coord.next_deadline_ms() is None


def test_a_malformed_record_raises_a_typed_error_and_changes_nothing() -> None:
    old = Harness()
    old.commit("g", {("t", 0): 5})
    coord = GroupCoordinator(CoordinatorConfig(), lambda: "x")
    for record in old.log:
        coord.replay(record.key, record.value)
    with pytest.raises(LogdError):
        coord.replay(b"\x00\x01\x00", b"")
    with pytest.raises(LogdError):
        coord.replay(old.log[0].key, b"\x00\x03\x00")
    impossible = GroupMetadataValue(
        "consumer",
        1,
        None,
        None,
        0,
        (MemberMetadataValue("m", None, "c", "h", 1, 1, b"", b""),),
    )
    with pytest.raises(CorruptRecordError, match="no protocol"):
        coord.replay(
            encode_group_metadata_key(GroupMetadataKey("g")),
            encode_group_metadata_value(impossible),
        )
    coord.finish_loading(0)
    response = coord.fetch_offsets("g")
    assert [(p.topic, p.partition, p.offset) for p in response.partitions] == [("t", 0, 5)]


def test_unload_answers_everything_that_waits_with_not_coordinator() -> None:
    h = Harness(auto_persist=False)
    a = Member("a")
    join_a = h.join("g", a)  # parked in the initial delay
    commit = h.send_commit("simple", {("t", 0): 1})  # waiting for its write
    assert h.coord.pending_request_ids() == (join_a, commit)
    h.coord.unload(h.now)
    h._collect()
    assert h.coord.pending_request_ids() == ()
    body = h.answer(join_a)
    assert isinstance(body, JoinGroupResponse) and body.error is ErrorCode.NOT_COORDINATOR
    assert h.commit("simple", {("t", 0): 1}) == [ErrorCode.NOT_COORDINATOR]
    body = h.answer(commit)
    assert isinstance(body, OffsetCommitResponse)
    assert [p.error for p in body.partitions] == [ErrorCode.NOT_COORDINATOR]
    h.coord.on_persisted(h.held[0].write_id, h.now)  # too late: ignored
    assert not h.coord.ready()


def test_a_group_of_another_partition_is_refused() -> None:
    config = CoordinatorConfig(partition=0, partitions=50, min_session_timeout_ms=1_000)
    h = Harness(config)
    mine = next(f"g{i}" for i in range(1000) if offsets_partition_for(f"g{i}", 50) == 0)
    other = next(f"g{i}" for i in range(1000) if offsets_partition_for(f"g{i}", 50) != 0)
    assert h.commit(mine, {("t", 0): 1}) == [ErrorCode.NONE]
    assert h.commit(other, {("t", 0): 1}) == [ErrorCode.NOT_COORDINATOR]
    assert h.coord.fetch_offsets(other).error is ErrorCode.NOT_COORDINATOR
    assert h.commit("", {("t", 0): 1}) == [ErrorCode.INVALID_GROUP_ID]


def test_records_written_are_the_only_thing_replay_needs() -> None:
    # The same log replayed twice gives the same groups (replay is deterministic).
    old = Harness()
    a, b = Member("a"), Member("b")
    old.form("g", a, b)
    old.commit("g", {("t", 0): 3}, b)
    first = Harness(replay=old.log).coord.describe_groups(["g"])
    second = Harness(replay=list(old.log)).coord.describe_groups(["g"])
    assert first == second
