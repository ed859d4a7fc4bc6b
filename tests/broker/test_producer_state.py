"""The partition's producer state, pure: duplicates, gaps, fencing, expiry, snapshots."""

from __future__ import annotations

import pytest

from logd.broker.producer_state import (
    BATCHES_TO_RETAIN,
    SEQUENCE_MODULUS,
    BatchMetadata,
    ProducerFields,
    ProducerStateManager,
    decode_snapshot,
    producer_fields,
)
from logd.errors import (
    InvalidProducerEpochError,
    InvalidRecordError,
    KafkaStorageError,
    OutOfOrderSequenceError,
    UnknownProducerIdError,
)
from logd.records import build_control_batch, build_value_batch, parse_header
from logd.records.control import ControlType

PID = 7000
DAY = 86_400_000


class Appender:
    """Plays the leader: check, then record at the next offsets."""

    def __init__(self, state: ProducerStateManager) -> None:
        self.state = state
        self.next_offset = 0

    def send(
        self, first_seq: int, count: int, *, epoch: int = 0, pid: int = PID, now: int = 0
    ) -> BatchMetadata:
        last_seq = (first_seq + count - 1) % SEQUENCE_MODULUS
        fields = ProducerFields(pid, epoch, first_seq, last_seq)
        duplicate = self.state.check(fields, now)
        if duplicate is not None:
            return duplicate
        first, last = self.next_offset, self.next_offset + count - 1
        self.state.record(fields, first, last, 1_000, now)
        self.next_offset = last + 1
        return BatchMetadata(first_seq, last_seq, first, last, 1_000)


def test_in_sequence_batches_append_and_a_retry_gets_its_original_offsets() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    first = leader.send(0, 3)
    second = leader.send(3, 2)
    assert (first.first_offset, second.first_offset) == (0, 3)
    again = leader.send(0, 3)
    assert (again.first_offset, again.last_offset) == (0, 2)
    assert leader.next_offset == 5, "the duplicate was not appended"


def test_only_the_last_five_batches_are_recognised() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    for seq in range(BATCHES_TO_RETAIN + 1):
        leader.send(seq, 1)
    assert leader.send(BATCHES_TO_RETAIN, 1).first_offset == BATCHES_TO_RETAIN
    assert leader.send(1, 1).first_offset == 1
    with pytest.raises(OutOfOrderSequenceError, match="sent sequence 0, expected 6"):
        leader.send(0, 1)  # fell out of the window: never silently appended again


def test_a_gap_is_out_of_order_and_appends_nothing() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    leader.send(0, 2)
    with pytest.raises(OutOfOrderSequenceError, match="expected 2"):
        leader.send(3, 1)
    assert leader.next_offset == 2
    leader.send(2, 1)


def test_a_stale_epoch_is_fenced_and_a_new_epoch_starts_at_zero() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    leader.send(0, 4, epoch=1)
    with pytest.raises(
        InvalidProducerEpochError, match="fenced: its epoch 0 is older than the current epoch 1"
    ):
        leader.send(4, 1, epoch=0)
    with pytest.raises(OutOfOrderSequenceError, match="new epoch 2 at sequence 4"):
        leader.send(4, 1, epoch=2)
    leader.send(0, 1, epoch=2)
    with pytest.raises(InvalidProducerEpochError):
        leader.send(4, 1, epoch=1)  # the old epoch is gone for good


def test_an_unknown_producer_may_only_start_at_zero() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    with pytest.raises(UnknownProducerIdError, match="starts at sequence 5, not 0"):
        leader.send(5, 1)
    leader.send(0, 1)


def test_state_expires_after_the_expiration_and_then_speaks_clearly() -> None:
    state = ProducerStateManager("t-0", expiration_ms=1_000)
    leader = Appender(state)
    leader.send(0, 2, now=10_000)
    leader.send(2, 1, now=10_500)  # the expiration counts from the last write
    assert leader.send(0, 2, now=11_499).first_offset == 0
    with pytest.raises(UnknownProducerIdError, match=r"producer\.id\.expiration\.ms"):
        leader.send(3, 1, now=11_500)
    assert state.get(PID) is None


def test_a_sweep_drops_expired_producers_without_being_asked_about_them() -> None:
    state = ProducerStateManager("t-0", expiration_ms=1_000)
    leader = Appender(state)
    leader.send(0, 1, pid=1, now=0)
    leader.send(0, 1, pid=2, now=0)
    leader.send(1, 1, pid=2, now=900)
    leader.send(2, 1, pid=2, now=1_800)  # the sweep, due 1 000 ms after the first write
    assert [e.producer_id for e in state] == [2]


def test_sequences_wrap_at_two_to_the_31() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    leader.send(0, 1)
    state = leader.state
    entry = state.get(PID)
    assert entry is not None
    entry.batches.append(BatchMetadata(SEQUENCE_MODULUS - 3, SEQUENCE_MODULUS - 2, 1, 2, 0))
    wrapped = leader.send(SEQUENCE_MODULUS - 1, 3)
    assert wrapped.last_seq == 1
    leader.send(2, 1)


def test_batches_without_a_sequence_are_invalid() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    with pytest.raises(InvalidRecordError, match="needs both"):
        leader.send(-1, 1)


def test_producer_fields_reads_the_header_and_skips_what_is_not_idempotent() -> None:
    idempotent = build_value_batch(
        [b"a", b"b"], 0, producer_id=9, producer_epoch=2, base_sequence=40
    )
    assert producer_fields(idempotent) == ProducerFields(9, 2, 40, 41)
    assert producer_fields(build_value_batch([b"a"], 0)) is None
    control = build_control_batch(
        ControlType.COMMIT, b"", timestamp=0, producer_id=9, producer_epoch=2
    )
    assert producer_fields(control) is None
    assert producer_fields(b"short") is None


def test_observe_rebuilds_what_the_leader_recorded() -> None:
    leader = Appender(ProducerStateManager("t-0"))
    follower = ProducerStateManager("t-0")
    offset = 0
    for seq in range(0, 12, 3):
        batch = bytearray(
            build_value_batch(
                [b"x"] * 3, 1_000, producer_id=PID, producer_epoch=0, base_sequence=seq
            )
        )
        leader.send(seq, 3)
        batch[0:8] = offset.to_bytes(8, "big")
        follower.observe(parse_header(batch), offset, 0)
        offset += 3
    assert [*follower.get(PID).batches] == [  # type: ignore[union-attr]
        *leader.state.get(PID).batches  # type: ignore[union-attr]
    ]
    assert follower.check(ProducerFields(PID, 0, 9, 11), 0) is not None


def test_a_snapshot_round_trips_and_damage_is_refused() -> None:
    state = ProducerStateManager("t-0")
    leader = Appender(state)
    leader.send(0, 2, pid=1, now=5)
    leader.send(0, 1, pid=2, epoch=3, now=6)
    data = state.encode_snapshot(42)
    copy = ProducerStateManager("t-0")
    assert copy.load_snapshot(data) == 42
    assert [(e.producer_id, e.epoch, e.last_seen_ms, [*e.batches]) for e in copy] == [
        (e.producer_id, e.epoch, e.last_seen_ms, [*e.batches]) for e in state
    ]
    for damaged in (data[:-1], data[:10], b"", data[:20] + b"\xff" + data[21:]):
        with pytest.raises(KafkaStorageError):
            decode_snapshot(damaged)
    assert copy.get(1) is not None, "a refused snapshot changes nothing"
