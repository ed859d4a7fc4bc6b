"""A write the log refuses (the append failed: a full disk, a lost leadership) leaves the
coordinator's memory as the log is: what the refused write changed is taken back before
anyone else sees it (Kafka reverts its timeline state to the last written offset). A write
that reached the log but was not committed in time stays in memory, as in the log.

Checked each time against a new coordinator that replays what the log holds."""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.consumer_group import ConsumerHeartbeat, ConsumerHeartbeatAnswer
from logd.groups.consumer_ops import EXPIRY_RETRY_MS, DescribedConsumerGroup
from logd.groups.messages import DeleteGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse
from tests.groups.harness import Harness
from tests.groups.test_consumer_coordinator import CONFIG
from tests.groups.test_consumer_records import IDS, TOPICS, beat


def _send_join(h: Harness, rid: int, member: str) -> None:
    req = ConsumerHeartbeat(
        group_id="g", member_id=member, member_epoch=0, rebalance_timeout_ms=5_000,
        subscribed_topics=("t",), owned=frozenset(),
    )  # fmt: skip
    h.coord.consumer_group_heartbeat(rid, req, TOPICS, h.now, IDS)
    h.drain()


def _view(h: Harness) -> tuple[object, ...]:
    """What ConsumerGroupDescribe shows of group g (members with epochs and partitions)."""
    (group,) = h.coord.describe_consumer_groups(["g"])
    return _shown(group)


def _shown(group: DescribedConsumerGroup) -> tuple[object, ...]:
    members = sorted((m.member_id, m.member_epoch, sorted(m.assigned)) for m in group.members)
    return group.error, group.group_epoch, group.assignment_epoch, members


def test_a_refused_join_leaves_the_group_as_the_log_has_it() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0)
    assert a.assignment is not None and len(a.assignment) == 4
    before = _view(h)
    h.auto_persist = False
    _send_join(h, 1, "b")
    h.refuse_next()
    refused = h.answer(1)
    assert isinstance(refused, ConsumerHeartbeatAnswer)
    assert refused.error is ErrorCode.NOT_COORDINATOR  # KAFKA_STORAGE_ERROR, as Kafka maps it
    assert _view(h) == before  # no b, no new group epoch
    assert _view(Harness(CONFIG, replay=h.log)) == before  # memory is what the log says
    h.auto_persist = True
    again = beat(h, "a", a.member_epoch, a.assignment)
    assert again.error is ErrorCode.NONE and again.assignment is None  # a revokes nothing
    assert h.held == []
    assert beat(h, "b", 0).error is ErrorCode.NONE  # b's retry joins for real
    assert [m[0] for m in _view(h)[3]] == ["a", "b"]  # type: ignore[index]
    assert _view(Harness(CONFIG, replay=h.log)) == _view(h)


def test_a_refused_first_join_leaves_no_group_behind() -> None:
    h = Harness(CONFIG, auto_persist=False)
    _send_join(h, 1, "a")
    h.refuse_next()
    assert h.coord.list_groups().groups == ()
    (group,) = h.coord.describe_consumer_groups(["g"])
    assert group.error is ErrorCode.GROUP_ID_NOT_FOUND


def test_later_writes_made_on_a_refused_one_are_taken_back_with_it() -> None:
    """Two writes handed over together (one Ready): the driver refuses the second unappended
    once the first is refused; the group goes back to before the first."""
    h = Harness(CONFIG)
    beat(h, "a", 0)
    before = _view(h)
    h.auto_persist = False
    _send_join(h, 1, "b")
    _send_join(h, 2, "c")
    h.refuse_next()
    h.refuse_next()
    assert _view(h) == before
    for rid in (1, 2):
        body = h.answer(rid)
        assert isinstance(body, ConsumerHeartbeatAnswer) and body.error is not ErrorCode.NONE


def test_a_refused_expiry_keeps_the_member_and_is_tried_again() -> None:
    h = Harness(CONFIG)
    beat(h, "a", 0)
    before = _view(h)
    h.auto_persist = False
    h.advance(CONFIG.consumer.session_timeout_ms)  # a's session ends: the expiry's write
    h.refuse_next()
    assert _view(h) == before  # the log still has a
    deadline = h.coord.next_deadline_ms()
    assert deadline == h.now + EXPIRY_RETRY_MS  # tried again later, not in a loop
    h.auto_persist = True
    h.run_timers(deadline)
    (group,) = h.coord.describe_consumer_groups(["g"])
    assert group.members == ()
    assert _shown(Harness(CONFIG, replay=h.log).coord.describe_consumer_groups(["g"])[0]) == (
        _shown(group)
    )


def test_a_write_not_committed_in_time_stays_in_memory_as_in_the_log() -> None:
    h = Harness(CONFIG, auto_persist=False)
    _send_join(h, 1, "a")
    h.persist_next(ErrorCode.REQUEST_TIMED_OUT, reached_log=True)
    failed = h.answer(1)
    assert isinstance(failed, ConsumerHeartbeatAnswer)
    assert failed.error is ErrorCode.COORDINATOR_NOT_AVAILABLE
    assert _view(Harness(CONFIG, replay=h.log)) == _view(h)  # a, as the log has it
    h.auto_persist = True
    rejoin = beat(h, "a", 0)  # the client's retry
    assert rejoin.error is ErrorCode.NONE
    assert _view(Harness(CONFIG, replay=h.log)) == _view(h)


def test_a_refused_delete_puts_the_group_and_its_offsets_back() -> None:
    h = Harness(CONFIG)
    assert h.commit("simple", {("t", 0): 5, ("t", 1): 7}) == [ErrorCode.NONE] * 2
    h.auto_persist = False
    h.coord.delete_groups(1, ["simple"], h.now)
    h.drain()
    assert h.committed("simple") == {}  # gone at once for everyone else
    h.refuse_next()
    answer = h.answer(1)
    assert isinstance(answer, DeleteGroupsResponse)
    assert answer.results[0].error is ErrorCode.NOT_COORDINATOR
    assert h.committed("simple") == {("t", 0): 5, ("t", 1): 7}
    assert [g.group_id for g in h.coord.list_groups().groups] == ["simple"]
    h.auto_persist = True
    h.coord.delete_groups(2, ["simple"], h.now)
    h.drain()
    answer = h.answer(2)
    assert isinstance(answer, DeleteGroupsResponse)
    assert answer.results[0].error is ErrorCode.NONE
    assert Harness(CONFIG, replay=h.log).coord.list_groups().groups == ()


def test_a_refused_offset_delete_puts_the_offsets_back() -> None:
    h = Harness(CONFIG)
    assert h.commit("simple", {("t", 0): 5, ("t", 1): 7}) == [ErrorCode.NONE] * 2
    h.auto_persist = False
    h.coord.delete_offsets(1, OffsetDeleteRequest("simple", (("t", 0),)), h.now)
    h.drain()
    h.refuse_next()
    answer = h.answer(1)
    assert isinstance(answer, OffsetDeleteResponse)
    assert answer.partitions[0].error is ErrorCode.NOT_COORDINATOR
    assert h.committed("simple") == {("t", 0): 5, ("t", 1): 7}
    assert Harness(CONFIG, replay=h.log).committed("simple") == h.committed("simple")
