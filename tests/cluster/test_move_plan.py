"""The steps of a partition move (``logd.cluster.move_plan``), from made-up leader
statuses: learners first, no swap before they hold the commit, a leaving leader hands
over first, one joint change, done when the voters are the target."""

from __future__ import annotations

from logd.cluster.move_plan import StepKind, bytes_left, next_step, quorum_step
from logd.cluster.mover import completed
from logd.metadata.store import PartitionAssignment, TopicRecord
from replication import ConfChange, ConfChangeType, ConfState, ProgressStatus, Role, Status
from replication.progress import ProgressState


def _status(me: int, conf: ConfState, match: dict[int, int], commit: int = 10) -> Status:
    progress = {
        n: ProgressStatus(m, m + 1, ProgressState.REPLICATE, True, False, 0, n in conf.learners)
        for n, m in match.items()
    }
    return Status(me, Role.LEADER, 2, me, me, commit, commit, 0, 10, 2, conf, False, None,
                  progress)  # fmt: skip


def test_learners_join_first_then_wait_until_they_hold_the_commit() -> None:
    status = _status(1, ConfState.of((1, 2, 3)), {1: 10, 2: 10, 3: 10})
    step = next_step(status, {2, 3, 4})
    assert step.kind is StepKind.CHANGE
    assert step.changes == (ConfChange(ConfChangeType.ADD_LEARNER, 4),)
    joined = ConfState.of((1, 2, 3), (4,))
    assert next_step(_status(1, joined, {1: 10, 2: 10, 3: 10, 4: 5}), {2, 3, 4}).kind is (
        StepKind.WAIT
    )


def test_a_leaving_leader_hands_over_before_the_swap() -> None:
    joined = ConfState.of((1, 2, 3), (4,))
    step = next_step(_status(1, joined, {1: 10, 2: 9, 3: 10, 4: 10}), {2, 3, 4})
    assert (step.kind, step.to) == (StepKind.TRANSFER, 3)
    step = next_step(_status(2, joined, {1: 10, 2: 10, 3: 10, 4: 10}), {2, 3, 4})
    assert step.kind is StepKind.CHANGE
    assert set(step.changes) == {
        ConfChange(ConfChangeType.ADD_VOTER, 4),
        ConfChange(ConfChangeType.REMOVE, 1),
    }


def test_done_when_the_voters_are_the_target_and_waits_while_joint() -> None:
    assert next_step(_status(2, ConfState.of((2, 3, 4)), {}), {2, 3, 4}).kind is StepKind.DONE
    joint = ConfState(frozenset({2, 3, 4}), frozenset({1, 2, 3}), frozenset(), frozenset())
    assert next_step(_status(2, joint, {}), {2, 3, 4}).kind is StepKind.WAIT
    stray = ConfState.of((1, 2, 3), (4,))
    step = next_step(_status(1, stray, {}), {1, 2, 3})  # a cancelled move: drop the learner
    assert step.changes == (ConfChange(ConfChangeType.REMOVE, 4),)


def test_completion_applies_only_to_the_move_it_saw() -> None:
    moving = PartitionAssignment(0, (1, 2, 3), 1, 0, (1, 2, 3)).moving_to((2, 3, 4))
    assert (moving.replicas, moving.adding, moving.removing) == ((2, 3, 4, 1), (4,), (1,))
    record = TopicRecord("t", "id", (moving,))
    done = completed(record, 0, moving)
    assert done.partitions[0].replicas == (2, 3, 4) and not done.partitions[0].moving
    other = PartitionAssignment(0, (1, 2, 3), 1, 0, (1, 2, 3)).moving_to((1, 2, 4))
    assert completed(record, 0, other) is record


def test_the_quorum_demotes_a_leaving_voter_and_adds_every_broker_as_learner() -> None:
    conf = ConfState.of((0, 1, 2))
    step = quorum_step(_status(1, conf, {0: 10, 1: 10, 2: 10}), {1, 2, 3}, {0, 1, 2, 3, 4})
    assert step.changes == (
        ConfChange(ConfChangeType.ADD_LEARNER, 3),
        ConfChange(ConfChangeType.ADD_LEARNER, 4),
    )
    joined = ConfState.of((0, 1, 2), (3, 4))
    status = _status(1, joined, {0: 10, 1: 10, 2: 10, 3: 10, 4: 3})
    step = quorum_step(status, {1, 2, 3}, {0, 1, 2, 3, 4})  # 4 lags: it stays a learner
    assert set(step.changes) == {
        ConfChange(ConfChangeType.ADD_VOTER, 3),
        ConfChange(ConfChangeType.ADD_LEARNER, 0),  # demoted, not removed
    }
    behind = _status(1, joined, {0: 10, 1: 10, 2: 10, 3: 4, 4: 3})
    assert quorum_step(behind, {1, 2, 3}, {0, 1, 2, 3, 4}).kind is StepKind.WAIT
    step = quorum_step(_status(0, joined, {0: 10, 1: 10, 2: 8, 3: 10, 4: 3}), {1, 2, 3}, set())
    assert (step.kind, step.to) == (StepKind.TRANSFER, 1)
    done = ConfState.of((1, 2, 3), (0, 4))
    assert quorum_step(_status(1, done, {}), {1, 2, 3}, {0, 1, 2, 3, 4}).kind is StepKind.DONE


def test_bytes_left_sums_what_each_joining_replica_lacks() -> None:
    # Leader 1 holds offsets 0..10; learner 4 up to 5, learner 5 nothing it reported.
    status = _status(1, ConfState.of((1, 2, 3), (4, 5)), {1: 10, 2: 10, 3: 10, 4: 5})

    def bytes_from(offset: int) -> int:  # 10 bytes a record, as if
        return max(0, 11 - offset) * 10

    assert bytes_left(status, {1, 4, 5}, bytes_from) == 50 + 110
    assert bytes_left(status, {1, 2, 3}, bytes_from) == 0  # nobody joins


def test_an_unregistered_learner_leaves_the_metadata_group_and_a_voter_never_does() -> None:
    conf = ConfState.of((1, 2, 3), (0, 4))
    step = quorum_step(_status(1, conf, {}), {1, 2, 3}, {0, 1, 2, 3}, {4})
    assert step.changes == (ConfChange(ConfChangeType.REMOVE, 4),)
    gone = ConfState.of((1, 2, 3), (0,))
    assert quorum_step(_status(1, gone, {}), {1, 2, 3}, {0, 1, 2, 3}, {4}).kind is StepKind.DONE
    # A voter is never removed this way (unregistering one is refused before).
    assert quorum_step(_status(1, gone, {}), {1, 2, 3}, {0, 1, 2, 3}, {3}).kind is StepKind.DONE
