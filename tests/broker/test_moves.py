"""A move replaced by another (Kafka's AlterPartitionReassignments, ``broker.moves``):
the metadata shape, pure."""

from __future__ import annotations

from logd.broker.moves import _replaced
from logd.metadata.store import PartitionAssignment


def _moving(before: tuple[int, ...], target: tuple[int, ...]) -> PartitionAssignment:
    return PartitionAssignment(0, before, before[0], 3, before).moving_to(target, 500)


def test_a_new_target_hosts_on_every_broker_now_and_joins_those_not_voters_all_along() -> None:
    current = _moving((1, 2, 3), (1, 2, 4))  # 4 joining, 3 leaving
    new = _replaced(current, (1, 2, 5), 700)
    assert new.replicas == (1, 2, 5, 4, 3)  # KRaft's shape: target first, then leaving
    assert (new.target, new.adding, new.removing, new.throttle) == ((1, 2, 5), (5,), (4, 3), 700)


def test_going_back_re_adds_the_replica_the_old_move_was_removing() -> None:
    # The group may have dropped 3 already: it joins again; 4 (never a voter) leaves.
    new = _replaced(_moving((1, 2, 3), (1, 2, 4)), (1, 2, 3), 0)
    assert (new.target, new.adding, new.removing) == ((1, 2, 3), (3,), (4,))
    # Keeping the joining replica: it is still joining (it may be a learner yet).
    new = _replaced(_moving((1, 2, 3), (1, 2, 4)), (4, 1, 2), 0)
    assert (new.target, new.adding, new.removing) == ((4, 1, 2), (4,), (3,))
    assert new.moving
