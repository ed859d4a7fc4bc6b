"""Committed offsets: fencing by generation and member, durability before the answer,
simple commits, fetch, delete, retention."""

from __future__ import annotations

import pytest

from logd.errors import ErrorCode, InvalidConfigError
from logd.groups.config import CoordinatorConfig
from logd.groups.log_format import OffsetCommitKey, decode_key
from logd.groups.messages import (
    DeleteGroupResult,
    DeleteGroupsResponse,
    LeaveGroupMember,
    OffsetCommitPartition,
    OffsetCommitRequest,
    OffsetCommitResponse,
    TopicPartition,
)
from logd.groups.state import GroupState
from tests.groups.harness import Harness, Member

S = GroupState
NONE = ErrorCode.NONE


def test_a_stale_generation_cannot_commit() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b)
    assert h.commit("g", {("t", 0): 10}, a) == [NONE]
    old = Member("a", member_id=a.member_id, generation=a.generation)
    rid_a = h.join("g", a)  # the leader rejoins: Preparing, generation unchanged so far
    # Kafka allows commits of the current generation while preparing: members flush
    # their progress before they rejoin.
    assert h.commit("g", {("t", 1): 5}, b) == [NONE]
    rid_b = h.join("g", b)
    assert h.join_response(rid_a, a) is not None and h.join_response(rid_b, b) is not None
    assert a.generation == old.generation + 1
    assert h.coord.group_state("g") is S.COMPLETING_REBALANCE
    # New generation, no assignment yet: REBALANCE_IN_PROGRESS (not a fence).
    assert h.commit("g", {("t", 0): 11}, a) == [ErrorCode.REBALANCE_IN_PROGRESS]
    assert h.commit("g", {("t", 0): 99}, old) == [ErrorCode.ILLEGAL_GENERATION]
    ghost = Member("x", member_id="x-1", generation=a.generation)
    assert h.commit("g", {("t", 0): 99}, ghost) == [ErrorCode.UNKNOWN_MEMBER_ID]
    # A standalone commit into a group with members is refused.
    assert h.commit("g", {("t", 0): 99}) == [ErrorCode.UNKNOWN_MEMBER_ID]
    assert h.committed("g") == {("t", 0): 10, ("t", 1): 5}


def test_a_commit_for_an_unknown_group_with_a_generation_is_fenced() -> None:
    h = Harness()
    ghost = Member("x", member_id="x-1", generation=3)
    assert h.commit("g", {("t", 0): 1}, ghost) == [ErrorCode.ILLEGAL_GENERATION]
    assert h.coord.group_state("g") is None


def test_a_commit_is_answered_only_when_durable() -> None:
    h = Harness(auto_persist=False)
    rid = h.send_commit("g", {("t", 0): 7, ("t", 1): 8})
    assert h.answer(rid) is None
    assert h.committed("g") == {}, "nothing is visible before it is durable"
    [write] = h.held
    keys = [decode_key(r.key) for r in write.records]
    assert keys == [OffsetCommitKey("g", "t", 0), OffsetCommitKey("g", "t", 1)]
    h.persist_next()
    body = h.answer(rid)
    assert isinstance(body, OffsetCommitResponse)
    assert [p.error for p in body.partitions] == [NONE, NONE]
    assert h.committed("g") == {("t", 0): 7, ("t", 1): 8}


def test_a_commit_that_cannot_be_persisted_is_not_committed() -> None:
    h = Harness(auto_persist=False)
    for storage_error, told in (
        (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.NOT_COORDINATOR),
        (ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.COORDINATOR_NOT_AVAILABLE),
        (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.INVALID_COMMIT_OFFSET_SIZE),
    ):
        rid = h.send_commit("g", {("t", 0): 7})
        h.persist_next(storage_error)
        body = h.answer(rid)
        assert isinstance(body, OffsetCommitResponse)
        assert [p.error for p in body.partitions] == [told]
    assert h.committed("g") == {}


def test_bad_partitions_are_refused_one_by_one() -> None:
    h = Harness(CoordinatorConfig(offset_metadata_max_bytes=8))
    req = OffsetCommitRequest(
        "g",
        (
            OffsetCommitPartition("t", 0, 1),
            OffsetCommitPartition("bad/topic", 0, 1),
            OffsetCommitPartition("t", -1, 1),
            OffsetCommitPartition("t", 1, -5),
            OffsetCommitPartition("t", 2, 1, metadata="x" * 9),
            OffsetCommitPartition("t", 3, 1, metadata="é" * 4),  # 8 bytes: fits
        ),
    )
    h.coord.commit_offsets(1, req, h.now)
    h.drain()
    body = h.answer(1)
    assert isinstance(body, OffsetCommitResponse)
    assert [p.error for p in body.partitions] == [
        NONE,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.OFFSET_METADATA_TOO_LARGE,
        NONE,
    ]
    assert h.committed("g") == {("t", 0): 1, ("t", 3): 1}


def test_fetch_answers_minus_one_for_partitions_without_offsets() -> None:
    h = Harness()
    h.commit("g", {("t", 0): 3})
    response = h.coord.fetch_offsets("g", [TopicPartition("t", 0), TopicPartition("t", 9)])
    assert [(p.partition, p.offset) for p in response.partitions] == [(0, 3), (9, -1)]
    unknown = h.coord.fetch_offsets("nobody", [TopicPartition("t", 0)])
    assert [p.offset for p in unknown.partitions] == [-1]
    assert h.coord.fetch_offsets("nobody").partitions == ()


def test_delete_refuses_a_group_with_members_and_removes_an_empty_one() -> None:
    h = Harness()
    a = Member("a")
    h.form("g", a)
    h.commit("g", {("t", 0): 4, ("t", 1): 5}, a)

    def delete(*groups: str) -> list[DeleteGroupResult]:
        rid = 100 + len(h.responses)
        h.coord.delete_groups(rid, list(groups), h.now)
        h.drain()
        body = h.answer(rid)
        assert isinstance(body, DeleteGroupsResponse)
        return list(body.results)

    assert delete("g", "nope") == [
        DeleteGroupResult("g", ErrorCode.NON_EMPTY_GROUP),
        DeleteGroupResult("nope", ErrorCode.GROUP_ID_NOT_FOUND),
    ]
    h.leave("g", LeaveGroupMember(a.member_id))
    h.run_timers(h.now + 30_000)
    assert h.coord.group_state("g") is S.EMPTY
    log_before = len(h.log)
    assert delete("g") == [DeleteGroupResult("g", NONE)]
    tombstones = h.log[log_before:]
    assert all(r.value is None for r in tombstones) and len(tombstones) == 3
    assert h.coord.group_state("g") is None
    assert h.committed("g") == {}
    assert h.coord.describe_groups(["g"]).groups[0].state is S.DEAD


def test_delete_is_answered_when_its_tombstones_are_durable() -> None:
    h = Harness(auto_persist=False)
    h.send_commit("g", {("t", 0): 1})
    h.persist_next()
    h.coord.delete_groups(50, ["g", "g"], h.now)  # a duplicate counts once
    h._collect()
    assert h.answer(50) is None
    h.persist_next()
    assert h.answer(50) == DeleteGroupsResponse((DeleteGroupResult("g", NONE),))


def _retention_harness(retention_ms: int) -> Harness:
    return Harness(
        CoordinatorConfig(
            offsets_retention_ms=retention_ms,
            offsets_retention_check_interval_ms=60_000,
            min_session_timeout_ms=1_000,
        )
    )


def test_a_simple_groups_offsets_expire_after_the_retention_time() -> None:
    retention = 3_600_000
    h = _retention_harness(retention)
    h.commit("simple", {("t", 0): 1})
    h.advance(retention - 60_000)
    assert h.committed("simple") == {("t", 0): 1}
    h.advance(60_000)
    assert h.committed("simple") == {}
    assert h.coord.group_state("simple") is None
    assert [r.value for r in h.log[-2:]] == [None, None]  # offset and group tombstones


def test_a_consumer_groups_offsets_expire_from_when_it_became_empty() -> None:
    retention = 3_600_000
    h = _retention_harness(retention)
    a = Member("a")
    h.form("g", a)
    h.commit("g", {("t", 0): 4}, a)
    for _ in range(retention // 5_000):  # an hour of heartbeats: still a member
        h.advance(5_000)
        assert h.heartbeat("g", a) is NONE
    assert h.committed("g") == {("t", 0): 4}
    h.leave("g", LeaveGroupMember(a.member_id))
    h.run_timers(h.now + 1)
    assert h.coord.group_state("g") is S.EMPTY
    h.advance(retention - 60_000)
    assert h.committed("g") == {("t", 0): 4}
    h.advance(120_000)
    assert h.committed("g") == {}
    assert h.coord.group_state("g") is None


def test_settings_that_cannot_work_are_refused() -> None:
    for bad in (
        {"partition": 3, "partitions": 3},
        {"min_session_timeout_ms": 10, "max_session_timeout_ms": 5},
        {"offset_metadata_max_bytes": 40_000},
        {"offsets_retention_ms": 0},
        {"initial_rebalance_delay_ms": -1},
    ):
        with pytest.raises(InvalidConfigError):
            CoordinatorConfig(**bad)
