"""Classic members inside a consumer-protocol group (KIP-848's upgrade path): a classic
JoinGroup into a live consumer group makes the member one of its members, the broker's
assignor gives it its share, it reconciles by rejoining (REBALANCE_IN_PROGRESS on its
heartbeats until it has), SyncGroup hands it its partitions, LeaveGroup and its own session
timeout remove it; a coordinator that replays the group sends it back to JoinGroup, which
finds it at its epoch with its partitions."""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.messages import JoinGroupProtocol, LeaveGroupMember
from partitioning import Subscription, TopicPartition, decode_assignment, encode_subscription
from tests.groups.harness import Harness, Member
from tests.groups.test_consumer_coordinator import CONFIG, TOPICS, beat

_SUB = encode_subscription(Subscription(("t",)))


def _classic(name: str = "k", session_ms: int = 1_500) -> Member:
    return Member(name, protocols=(JoinGroupProtocol("range", _SUB),), session_ms=session_ms)


def _join_and_sync(h: Harness, m: Member) -> set[int]:
    rid = h.join("g", m)
    body = h.join_response(rid, m)
    assert body is not None and body.error is ErrorCode.NONE, body
    assert (body.leader_id, body.members, body.protocol_name) == ("", (), "range")
    assert body.generation_id == m.generation
    synced = h.sync_response(h.sync("g", m), m)
    assert synced is not None and synced.error is ErrorCode.NONE, synced
    return {tp.partition for tp in decode_assignment(synced.assignment).partitions}


def _live_group() -> tuple[Harness, frozenset[TopicPartition]]:
    h = Harness(CONFIG)
    h.topics = dict(TOPICS)
    a = beat(h, "a", 0)
    assert a.assignment is not None and len(a.assignment) == 2
    return h, a.assignment


def test_a_classic_member_gets_its_share_by_rejoining_until_it_has_reconciled() -> None:
    h, owned = _live_group()
    k = _classic()
    assert _join_and_sync(h, k) == set()  # a still owns both
    a = beat(h, "a", 1, owned)  # a is told to give one up
    kept = a.assignment
    assert kept is not None and len(kept) == 1
    assert h.heartbeat("g", k) is ErrorCode.REBALANCE_IN_PROGRESS  # not reconciled yet
    a = beat(h, "a", 1, kept)  # a gave it up
    assert _join_and_sync(h, k) == {0, 1} - {tp.partition for tp in kept}
    assert h.heartbeat("g", k) is ErrorCode.NONE
    (group,) = h.coord.describe_consumer_groups(["g"])
    kinds = sorted((m.member_id == k.member_id, m.classic is not None) for m in group.members)
    assert kinds == [(False, False), (True, True)]
    assert h.commit("g", {("t", 0): 5}, k) == [ErrorCode.NONE]  # generation = member epoch
    left = h.leave("g", LeaveGroupMember(k.member_id))
    assert [r.error for r in left.members] == [ErrorCode.NONE]
    a = beat(h, "a", a.member_epoch, kept)
    assert a.assignment is not None and len(a.assignment) == 2  # a takes it back


def test_a_classic_member_is_removed_after_its_own_session_timeout() -> None:
    h, _ = _live_group()
    k = _classic(session_ms=1_500)
    _join_and_sync(h, k)
    h.run_timers(h.now + 1_500)  # shorter than the consumer protocol's 2 s
    assert h.heartbeat("g", k) is ErrorCode.UNKNOWN_MEMBER_ID


def test_a_classic_member_needs_the_consumer_protocol_type_and_a_common_protocol() -> None:
    h, _ = _live_group()
    other = Member("x", protocols=(JoinGroupProtocol("range", _SUB),))
    rid = h.join("g", other)
    h.join_response(rid, other)
    roundrobin = Member("y", protocols=(JoinGroupProtocol("roundrobin", _SUB),))
    rid = h.join("g", roundrobin)
    body = h.join_response(rid, roundrobin)
    assert body is not None and body.error is ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_after_a_replay_the_member_rejoins_at_its_epoch_with_its_partitions() -> None:
    h, owned = _live_group()
    beat(h, "a", 1, owned)
    k = _classic()
    _join_and_sync(h, k)
    new = Harness(CONFIG, replay=h.log)
    new.topics = dict(TOPICS)
    assert new.heartbeat("g", k) is ErrorCode.REBALANCE_IN_PROGRESS  # known, not as classic
    epoch = k.generation
    rid = new.send_join("g", k)
    body = new.join_response(rid, k)
    assert body is not None and body.error is ErrorCode.NONE
    assert k.generation == epoch
    assert new.heartbeat("g", k) in (ErrorCode.NONE, ErrorCode.REBALANCE_IN_PROGRESS)


def test_a_classic_member_s_session_timeout_is_checked_as_in_a_classic_group() -> None:
    h, _ = _live_group()
    k = _classic(session_ms=CONFIG.min_session_timeout_ms - 1)
    body = h.join_response(h.send_join("g", k), k)
    assert body is not None and body.error is ErrorCode.INVALID_SESSION_TIMEOUT
