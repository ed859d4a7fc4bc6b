"""The balancer's changes from and to the metadata (``logd.cluster.balancing``): no I/O."""

from __future__ import annotations

import pytest

from logd.cluster.balancing import Change, changing, plan_changes
from logd.errors import ReassignmentInProgressError
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.metadata.types import BrokerMeta


def _topic(*placements: tuple[int, ...], name: str = "t") -> TopicRecord:
    parts = tuple(PartitionAssignment(i, r, r[1], 4, r) for i, r in enumerate(placements))
    return TopicRecord(name, f"id-{name}", parts)


def test_a_preferred_leader_change_reorders_and_keeps_the_leader_and_the_isr() -> None:
    record = _topic((0, 1, 2))
    after = changing(Change("t", 0, (0, 1, 2), (1, 0, 2)))(record).partitions[0]
    assert (after.replicas, after.leader_id, after.leader_epoch, after.isr) == (
        (1, 0, 2), 1, 4, (0, 1, 2)
    )  # fmt: skip
    assert not after.moving


def test_a_move_starts_throttled_and_a_changed_partition_is_refused() -> None:
    record = _topic((0, 1, 2))
    after = changing(Change("t", 0, (0, 1, 2), (0, 3, 2)), 1000)(record).partitions[0]
    assert (after.adding, after.removing, after.throttle) == ((3,), (1,), 1000)
    assert not after.throttle_follows
    follows = changing(Change("t", 0, (0, 1, 2), (0, 3, 2)), 1000, True)(record).partitions[0]
    assert (follows.throttle, follows.throttle_follows) == (1000, True)
    with pytest.raises(ReassignmentInProgressError):
        changing(Change("t", 0, (0, 1, 2), (0, 3, 2)))(_topic((0, 2, 1)))
    moving = TopicRecord("t", "id-t", (after,))
    with pytest.raises(ReassignmentInProgressError):
        changing(Change("t", 0, after.replicas, (1, 0, 2)))(moving)


def test_the_plan_uses_live_brokers_not_draining_with_their_racks_and_skips_logds_topics() -> None:
    brokers = [BrokerMeta(0, "h", 1, "a"), BrokerMeta(1, "h", 2, "a"),
               BrokerMeta(2, "h", 3, "b"), BrokerMeta(3, "h", 4, "b", draining=True),
               BrokerMeta(4, "h", 5, "c", alive=False)]  # fmt: skip
    topics = {
        "t": _topic((0, 1), (0, 1)),
        "__consumer_offsets": _topic((0, 1), name="__consumer_offsets"),
    }
    changes = plan_changes(brokers, topics, lambda t, p: 0, limit=8)
    assert all(c.topic == "t" for c in changes)
    moved = [c for c in changes if c.moves]
    # Both partitions of t span rack a only: each gets broker 2 (rack b), never 3 or 4.
    assert sorted(set(c.target) - set(c.seen) for c in moved) == [{2}, {2}]
