"""The checker has teeth: hand-built histories, each with one anomaly, and a clean one.

Pure: no broker, no files. The clean history below is what a correct run looks like (acks,
a consumer session over a control-batch gap, a rebalance that replays, rising commits, two
replicas that agree, unknown outcomes both present and absent); each test breaks it in one
way and the checker must name exactly that anomaly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tests.fault.checker import (
    ABORTED_READ,
    ANOMALIES,
    COMMIT_BACKWARDS,
    COMPACTED_LATEST,
    DIVERGENT,
    DUPLICATED,
    INCONSISTENT,
    LOST,
    PHANTOM,
    POLL_BACKWARDS,
    POLL_SKIP,
    assert_valid,
    check,
)
from tests.fault.history import History, Kind, Op, Outcome

T = "t"


class Builder:
    """Ops with times from a counter: each call happens after the previous one."""

    def __init__(self) -> None:
        self.ticks = itertools.count()
        self.ops: list[Op] = []

    def op(self, kind: Kind, outcome: Outcome = Outcome.OK, *, overlap: bool = False,
           **fields: object) -> Op:  # fmt: skip
        invoke = float(next(self.ticks))
        if overlap:  # invoked before the previous op completed
            invoke = self.ops[-1].complete - 0.5
        op = Op(
            process=str(fields.pop("process", "p0")),
            kind=kind,
            invoke=invoke,
            complete=float(next(self.ticks)),
            outcome=outcome,
            **fields,  # type: ignore[arg-type]
        )
        self.ops.append(op)
        return op

    def produce(self, value: bytes, offset: int = -1, outcome: Outcome = Outcome.OK,
                partition: int = 0) -> Op:  # fmt: skip
        return self.op(Kind.PRODUCE, outcome, topic=T, partition=partition, value=value,
                       offset=offset)  # fmt: skip

    def poll(self, session: str, *records: tuple[int, bytes], partition: int = 0) -> Op:
        return self.op(Kind.POLL, topic=T, partition=partition, session=session,
                       records=tuple(records))  # fmt: skip

    def commit(self, offset: int, outcome: Outcome = Outcome.OK, *, overlap: bool = False) -> Op:
        return self.op(Kind.COMMIT, outcome, overlap=overlap, group="g", topic=T, partition=0,
                       offset=offset)  # fmt: skip

    def committed(self, offset: int) -> Op:
        return self.op(Kind.COMMITTED, group="g", topic=T, partition=0, offset=offset)

    def final(self, replica: str, *records: tuple[int, bytes], end: int = -1,
              outcome: Outcome = Outcome.OK, partition: int = 0,
              error: str = "") -> Op:  # fmt: skip
        return self.op(Kind.FINAL_READ, outcome, topic=T, partition=partition, replica=replica,
                       records=tuple(records), offset=end, error=error)  # fmt: skip


# Offsets 0..4 hold a..e except 2, a control batch (a Raft leader's first entry, say).
LOG = [(0, b"a"), (1, b"b"), (3, b"c"), (4, b"d"), (5, b"e")]


def clean(b: Builder, final: Callable[[Builder], object] | None = None) -> None:
    for offset, value in LOG:
        b.produce(value, offset)
    b.produce(b"u1", outcome=Outcome.UNKNOWN)  # timed out; never written
    b.produce(b"u2", outcome=Outcome.UNKNOWN)  # timed out; written at 6
    b.produce(b"f1", outcome=Outcome.FAILED)  # refused: never written
    b.poll("c1#1", (0, b"a"), (1, b"b"))
    b.poll("c1#1", (3, b"c"))  # across the control batch at 2: not a skip
    b.commit(4)
    b.poll("c2#1", (3, b"c"), (4, b"d"))  # a new owner replays from the commit: allowed
    b.commit(4, overlap=True)  # concurrent with the previous commit: no order between them
    b.commit(5)
    b.commit(3, Outcome.FAILED)  # a fenced zombie's commit: refused, so it cannot count
    b.committed(5)
    if final is None:
        for replica in ("r0", "r1"):
            b.final(replica, *LOG, (6, b"u2"), end=7)
    else:
        final(b)


def found(b: Builder, **kwargs: Any) -> dict[str, int]:
    return check(b.ops, **kwargs).found


def test_a_clean_history_has_no_anomalies_and_counts_what_it_held() -> None:
    b = Builder()
    clean(b)
    result = check(b.ops)
    assert result.valid, result.summary()
    assert_valid(result)
    s = result.stats
    assert (s["produce"], s["produce_ok"], s["produce_failed"], s["produce_unknown"]) == (
        8,
        5,
        1,
        2,
    )
    assert (s["unknown_present"], s["unknown_absent"]) == (1, 1)
    assert (s["poll"], s["polled"], s["sessions"]) == (3, 5, 2)
    assert (s["commit"], s["commit_ok"]) == (4, 3)
    assert (s["final_read"], s["final_records"], s["partitions"]) == (2, 12, 1)


def test_lost_an_acknowledged_value_missing_from_every_final_read() -> None:
    b = Builder()
    short = [r for r in LOG if r[1] != b"d"]  # d was acknowledged at 4, then lost
    clean(b, lambda b: [b.final(r, *short, (6, b"u2"), end=7) for r in ("r0", "r1")])
    assert found(b) == {LOST: 1}


def test_duplicated_one_value_at_two_offsets() -> None:
    b = Builder()
    log = [*LOG, (6, b"u2"), (7, b"c")]  # c again at 7: a retried batch written twice
    clean(b, lambda b: [b.final(r, *log, end=8) for r in ("r0", "r1")])
    assert found(b) == {DUPLICATED: 1}
    assert "b'c' at t/0@3, t/0@7" in check(b.ops).examples[DUPLICATED][0]


def test_an_ack_without_its_offset_places_nothing_but_can_still_be_lost() -> None:
    # librdkafka's idempotent producer acknowledges a batch whose answer it lost, once a
    # later batch's success proves it persisted -- without its offset (-1).
    b = Builder()
    clean(b)
    b.produce(b"late")
    b.final("r0", *LOG, (6, b"u2"), (7, b"late"), end=8)
    b.final("r1", *LOG, (6, b"u2"), (7, b"late"), end=8)
    assert found(b) == {}
    b = Builder()
    clean(b)
    b.produce(b"gone")
    assert found(b) == {LOST: 1}


def test_duplicates_are_counted_apart_when_the_producer_is_not_idempotent() -> None:
    b = Builder()
    log = [*LOG, (6, b"u2"), (7, b"c")]
    clean(b, lambda b: [b.final(r, *log, end=8) for r in ("r0", "r1")])
    result = check(b.ops, duplicates_allowed=True)
    assert result.valid
    assert result.stats["duplicates_allowed"] == 1
    assert "duplicates allowed (producer not idempotent): 1" in result.summary()


def test_inconsistent_offset_two_values_at_one_offset() -> None:
    b = Builder()
    clean(b)
    b.poll("c3#1", (6, b"u1"))  # a reader saw u1 where every replica holds u2
    assert found(b) == {INCONSISTENT: 1}
    assert check(b.ops).examples[INCONSISTENT] == [
        "t/0@6 holds b'u1' (poll by c3#1), b'u2' (final read of r0)"
    ]


def test_divergent_replicas_a_replica_missing_a_record_below_the_common_end() -> None:
    b = Builder()
    clean(b, lambda b: (b.final("r0", *LOG, (6, b"u2"), end=7),
                        b.final("r1", *LOG[:3], *LOG[4:], (6, b"u2"), end=7)))  # fmt: skip
    assert found(b) == {DIVERGENT: 1}
    assert check(b.ops).examples[DIVERGENT] == [
        "t/0@4: r0 has b'd', r1 has None (below their common end 7)"
    ]


def test_replicas_that_differ_only_past_their_common_end_agree() -> None:
    b = Builder()
    clean(b, lambda b: (b.final("r0", *LOG, (6, b"u2"), end=7),
                        b.final("r1", *LOG, end=6)))  # fmt: skip
    assert found(b) == {}


def test_divergent_replicas_a_replica_that_could_not_be_read() -> None:
    b = Builder()
    clean(b, lambda b: (b.final("r0", *LOG, (6, b"u2"), end=7),
                        b.final("r1", outcome=Outcome.FAILED, error="CRC mismatch")))  # fmt: skip
    assert found(b) == {DIVERGENT: 1}
    assert "could not be read: CRC mismatch" in check(b.ops).examples[DIVERGENT][0]


def test_aborted_read_a_value_whose_send_definitely_failed() -> None:
    b = Builder()
    clean(b)
    b.poll("c3#1", (7, b"f1"))
    assert found(b) == {ABORTED_READ: 1}


def test_phantom_a_value_nobody_sent() -> None:
    b = Builder()
    log = [*LOG, (6, b"u2"), (7, b"\x00garbage")]
    clean(b, lambda b: [b.final(r, *log, end=8) for r in ("r0", "r1")])
    assert found(b) == {PHANTOM: 1}


def test_poll_backwards_within_a_session() -> None:
    b = Builder()
    clean(b)
    b.poll("c2#1", (4, b"d"))  # the same session again at 4, after having read 4
    assert found(b) == {POLL_BACKWARDS: 1}
    assert check(b.ops).examples[POLL_BACKWARDS] == ["c2#1 on t/0: 4 then 4"]


def test_poll_skip_within_a_session_past_a_data_record() -> None:
    b = Builder()
    clean(b)
    b.poll("c2#1", (6, b"u2"))  # skipped e at 5
    assert found(b) == {POLL_SKIP: 1}
    assert check(b.ops).examples[POLL_SKIP] == ["c2#1 on t/0: 4 then 6, skipping 5"]


def test_sessions_are_per_partition() -> None:
    b = Builder()
    clean(b)
    b.produce(b"x", 0, partition=1)
    b.poll("c2#1", (0, b"x"), partition=1)  # the same session name, another partition
    b.final("r0", (0, b"x"), partition=1)
    assert found(b) == {}


def test_commit_backwards_an_acknowledged_commit_below_an_earlier_one() -> None:
    b = Builder()
    clean(b)
    b.commit(4)  # invoked after the commit of 5 completed
    assert found(b) == {COMMIT_BACKWARDS: 1}
    assert check(b.ops).examples[COMMIT_BACKWARDS] == [
        "group g t/0: commit of 4 after a commit of 5 was acknowledged"
    ]


def test_commit_backwards_a_committed_offset_read_below_an_acknowledged_commit() -> None:
    b = Builder()
    clean(b)
    b.committed(4)  # the commit of 5 was lost (a coordinator that forgot it)
    assert found(b) == {COMMIT_BACKWARDS: 1}


def test_the_summary_names_counts_and_examples_and_the_helper_fails_with_it() -> None:
    b = Builder()
    clean(b, lambda b: [b.final(r, *LOG[:-1], end=5) for r in ("r0",)])
    result = check(b.ops)
    assert result.found == {LOST: 1}
    text = result.summary()
    assert f"  {LOST:<20} 1" in text
    assert "e.g. b'e' acknowledged at t/0@5" in text
    assert all(f"  {kind:<20}" in text for kind in ANOMALIES)
    with pytest.raises(AssertionError, match="the checker found anomalies"):
        assert_valid(result)


def compacted_history(b: Builder, r1: tuple[tuple[int, bytes], ...]) -> None:
    """k1 written twice, k2 once; replica r0 compacted, r1 holds ``r1``."""
    b.produce(b"k1:a", 0)
    b.produce(b"k1:b", 1)
    b.produce(b"k2:c", 2)
    b.poll("c1#1", (0, b"k1:a"), (2, b"k2:c"))  # the leader cleaned 1 away after... a skip
    b.final("r0", (1, b"k1:b"), (2, b"k2:c"), end=3)
    b.final("r1", *r1, end=3)


def test_compacted_topics_replicas_compact_independently_and_superseded_values_may_go() -> None:
    b = Builder()
    compacted_history(b, ((0, b"k1:a"), (1, b"k1:b"), (2, b"k2:c")))
    assert_valid(check(b.ops, compacted=[T]))
    assert DIVERGENT in found(b)  # the same history on a topic that is not compacted


def test_compacted_latest_a_replica_whose_last_value_of_a_key_is_not_the_models() -> None:
    b = Builder()
    compacted_history(b, ((0, b"k1:a"), (2, b"k2:c")))  # r1 lost k1's last value
    assert found(b, compacted=[T]) == {COMPACTED_LATEST: 1}


def test_every_anomaly_kind_has_a_test_here() -> None:
    tested = {LOST, DUPLICATED, INCONSISTENT, DIVERGENT, ABORTED_READ, PHANTOM,
              POLL_BACKWARDS, POLL_SKIP, COMMIT_BACKWARDS, COMPACTED_LATEST}  # fmt: skip
    assert tested == set(ANOMALIES)


# -- the recorder ---------------------------------------------------------------------------


def test_history_records_completions_once_and_closes_what_is_left_unknown() -> None:
    ticks = itertools.count()
    history = History(lambda: float(next(ticks)))
    done = history.invoke("p0", Kind.PRODUCE, topic=T, partition=0, value=b"a")
    left = history.invoke("p0", Kind.PRODUCE, topic=T, partition=0, value=b"b")
    assert done.complete(Outcome.OK, offset=0) is not None
    assert done.complete(Outcome.UNKNOWN) is None  # a late second answer is ignored
    assert history.close() == 1
    assert left.complete(Outcome.OK, offset=1) is None  # too late: already unknown
    ops = {op.value: op for op in history}
    assert (ops[b"a"].outcome, ops[b"a"].offset) == (Outcome.OK, 0)
    assert (ops[b"b"].outcome, ops[b"b"].error) == (Outcome.UNKNOWN, "never completed")
    assert ops[b"a"].invoke < ops[b"a"].complete
    assert history.count(Kind.PRODUCE, Outcome.OK) == 1


def test_history_round_trips_through_jsonl() -> None:
    b = Builder()
    clean(b)
    b.final("r2", (9, b"\xff\x00"), outcome=Outcome.OK)
    history = History(float, b.ops)
    again = History.from_jsonl(history.to_jsonl())
    assert again.ops == b.ops
    assert check(again).counts == check(b.ops).counts


def test_an_op_cannot_complete_before_it_is_invoked() -> None:
    with pytest.raises(AssertionError, match="completes before it is invoked"):
        Op("p0", Kind.PRODUCE, 2.0, 1.0, Outcome.OK)
