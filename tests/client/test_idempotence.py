"""The idempotent producer's sequences, driven against a model leader with faults.

No network, no wall clock: the sender of ``test_sender.Rig`` sends to fake streams; a
model leader judges each batch with the broker's real producer state
(``logd.broker.producer_state``) and keeps a log; faults are injected by a seeded random
source — answers lost after the append, whole streams broken, refusals, timeouts — and
every seed must end with each record in the log exactly once, in order.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from logd.broker.producer_state import ProducerStateManager, producer_fields
from logd.client.producer.batch import ProducerBatch
from logd.client.producer.idempotence import MAX_EPOCH, WINDOW_BATCHES, Idempotence, restamp
from logd.errors import (
    ErrorCode,
    InvalidProducerEpochError,
    LogdError,
    NetworkError,
)
from logd.records import decode_batch, parse_header
from tests.client.test_sender import VALUE, FakeStream, Rig, failed, ok

PID = 77


class ModelLeader:
    """Judges and appends batches as the broker's partition does (one per partition)."""

    def __init__(self) -> None:
        self.states = {p: ProducerStateManager(f"t-{p}") for p in (0, 1)}
        self.logs: dict[int, list[bytes | None]] = {0: [], 1: []}
        self.now = 0

    def handle(self, partition: int, records: bytes) -> Any:
        fields = producer_fields(records)
        assert fields is not None, "every batch of an idempotent producer has a producer id"
        state, log = self.states[partition], self.logs[partition]
        try:
            duplicate = state.check(fields, self.now)
        except LogdError as exc:
            return failed(exc.code)
        if duplicate is not None:
            return ok(duplicate.first_offset)
        values = [r.value for r in decode_batch(records)]  # checks the CRC too
        first = len(log)
        log.extend(values)
        state.record(fields, first, len(log) - 1, 0, self.now)
        return ok(first)


def fresh_identity() -> Idempotence:
    identity = Idempotence()
    identity.adopt(PID, 0)
    return identity


def run(test: Callable[[], None]) -> None:
    async def main() -> None:
        test()

    asyncio.run(main())


def produce(rig: Rig, count: int, partitions: tuple[int, ...] = (0,)) -> list[bytes]:
    values = [b"%s-%04d" % (VALUE[:40], i) for i in range(count)]
    for i, value in enumerate(values):
        rig.acc.append(rig.tq, value, partition=partitions[i % len(partitions)])
    rig.acc.begin_flush()
    return values


def stream_of(rig: Rig) -> FakeStream:
    return rig.pool.stream("b0:1")


# -- the pieces ---------------------------------------------------------------------------


def test_sequences_count_records_per_partition_and_stick_to_the_batch() -> None:
    def body() -> None:
        rig = Rig(identity=fresh_identity(), batch_size=300)
        produce(rig, 8, (0, 1))
        rig.step()
        headers = [(p, parse_header(r)) for _, p, r, _ in stream_of(rig).sent]
        by_partition: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
        for partition, header in headers:
            assert (header.producer_id, header.producer_epoch) == (PID, 0)
            by_partition[partition].append((header.base_sequence, header.record_count))
        for runs in by_partition.values():
            expected = 0
            for seq, count in runs:
                assert seq == expected
                expected += count

    run(body)


def test_a_partition_keeps_at_most_five_batches_outstanding() -> None:
    def body() -> None:
        rig = Rig(identity=fresh_identity(), max_in_flight=50)
        stream_of(rig).max_in_flight = 50
        produce(rig, 12)  # one record per batch
        rig.step()
        assert len(stream_of(rig).sent) == WINDOW_BATCHES
        stream_of(rig).answer(1, ok(1))  # the second is acked: the first still holds the window
        rig.step()
        assert len(stream_of(rig).sent) == WINDOW_BATCHES - 1
        stream_of(rig).answer(0, ok(0))
        rig.step()
        assert len(stream_of(rig).sent) == WINDOW_BATCHES

    run(body)


def test_restamp_patches_the_encoded_bytes_and_their_crc() -> None:
    batch = ProducerBatch("t", 0, 0, 1_000, 0.0, 1.0)
    batch.values = [b"a", b"b"]
    batch.producer_id, batch.producer_epoch, batch.base_sequence = 1, 0, 10
    batch.encode(0)
    restamp(batch, 2, 3, 0)
    assert batch.encoded is not None
    header = decode_batch(batch.encoded).header  # raises on a bad CRC
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (2, 3, 0)
    assert [r.value for r in decode_batch(batch.encoded)] == [b"a", b"b"]


def test_a_split_batch_keeps_the_original_sequences() -> None:
    def body() -> None:
        identity = fresh_identity()
        rig = Rig(identity=identity, batch_size=1000)
        produce(rig, 3)
        rig.step()
        stream = stream_of(rig)
        stream.answer(0, failed(ErrorCode.MESSAGE_TOO_LARGE))
        rig.step()
        halves = [parse_header(r) for _, _, r, _ in stream.sent]
        assert [(h.base_sequence, h.record_count) for h in halves] == [(0, 1), (1, 2)]
        assert {(h.producer_id, h.producer_epoch) for h in halves} == {(PID, 0)}

    run(body)


# -- answers that need a decision ---------------------------------------------------------


def test_unknown_producer_bumps_the_epoch_and_resends_from_sequence_zero() -> None:
    def body() -> None:
        identity = fresh_identity()
        rig = Rig(identity=identity)
        produce(rig, 3)
        rig.step()
        stream = stream_of(rig)
        for _ in range(3):
            stream.answer(0, failed(ErrorCode.UNKNOWN_PRODUCER_ID))
        rig.step()
        resent = [parse_header(r) for _, _, r, _ in stream.sent]
        assert [(h.producer_epoch, h.base_sequence) for h in resent] == [(1, 0), (1, 1), (1, 2)]
        assert identity.epoch_bumps == 1
        for i in range(3):
            stream.answer(0, ok(i))
        assert [b.error for b in rig.delivered] == [None] * 3

    run(body)


def test_out_of_order_behind_a_pending_batch_is_simply_retried() -> None:
    def body() -> None:
        identity = fresh_identity()
        rig = Rig(identity=identity)
        produce(rig, 2)
        rig.step()
        stream = stream_of(rig)
        first, second = (r for _, _, r, _ in stream.sent)
        stream.answer(0, failed(ErrorCode.REQUEST_TIMED_OUT))
        stream.answer(0, failed(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER))
        rig.clock.advance(rig.config.retry_backoff_max_ms)
        rig.step()
        assert [r for _, _, r, _ in stream.sent] == [first, second], "same bytes, same order"
        assert identity.epoch_bumps == 0

    run(body)


def test_an_expired_batch_then_a_refused_successor_resets_the_partition() -> None:
    def body() -> None:
        identity = fresh_identity()
        rig = Rig(identity=identity, delivery_timeout_ms=1_000, retry_backoff_ms=100)
        produce(rig, 1)
        rig.step()
        stream_of(rig).answer(0, None, NetworkError("lost"))  # fate unknown
        rig.clock.advance(2_000)
        rig.step()
        (expired,) = rig.delivered
        assert "delivery.timeout.ms" in str(expired.error)
        rig.acc.end_flush()
        produce(rig, 1)
        rig.step()
        (late,) = [parse_header(r) for _, _, r, _ in stream_of(rig).sent]
        assert late.base_sequence == 1, "the expired batch may be in the log: no reuse"
        stream_of(rig).answer(0, failed(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER))
        rig.step()
        (again,) = [parse_header(r) for _, _, r, _ in stream_of(rig).sent]
        assert (again.producer_epoch, again.base_sequence) == (1, 0)

    run(body)


def test_a_fenced_producer_fails_this_batch_and_every_later_one() -> None:
    def body() -> None:
        identity = fresh_identity()
        rig = Rig(identity=identity)
        produce(rig, 3)
        rig.step()
        stream_of(rig).answer(0, failed(ErrorCode.INVALID_PRODUCER_EPOCH))
        stream_of(rig).answer(0, failed(ErrorCode.INVALID_PRODUCER_EPOCH))
        stream_of(rig).answer(0, failed(ErrorCode.INVALID_PRODUCER_EPOCH))
        produce(rig, 1)
        rig.step()
        assert stream_of(rig).sent == []
        assert len(rig.delivered) == 4
        assert all(isinstance(b.error, InvalidProducerEpochError) for b in rig.delivered)

    run(body)


def test_epoch_exhaustion_asks_for_a_new_producer_id() -> None:
    async def main() -> None:
        calls: list[int] = []

        async def fetch_id() -> tuple[int, int]:
            calls.append(1)
            return PID + 1, 0

        identity = Idempotence(fetch_id)
        identity.adopt(PID, MAX_EPOCH)
        rig = Rig(identity=identity)
        produce(rig, 1)
        rig.step()
        stream_of(rig).answer(0, failed(ErrorCode.UNKNOWN_PRODUCER_ID))
        rig.step()
        assert stream_of(rig).sent == [] and not identity.has_producer_id
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert calls == [1] and identity.producer_id == PID + 1
        rig.step()
        (header,) = [parse_header(r) for _, _, r, _ in stream_of(rig).sent]
        assert (header.producer_id, header.producer_epoch, header.base_sequence) == (PID + 1, 0, 0)

    asyncio.run(main())


# -- the whole: a model leader and injected faults ----------------------------------------


def _serve_one_round(rig: Rig, leader: ModelLeader, rng: random.Random) -> dict[str, int]:
    """Answer what is in flight, with faults; returns the faults injected."""
    stream = stream_of(rig)
    faults = {"lost_after_append": 0, "stream_break": 0, "refused": 0, "timed_out": 0}
    while stream.sent:
        roll = rng.random()
        _, partition, records, _ = stream.sent[0]
        if roll < 0.15:  # the broker appends, the answer never comes
            leader.handle(partition, records)
            stream.answer(0, None, NetworkError("connection dropped"))
            faults["lost_after_append"] += 1
        elif roll < 0.25:  # a broken stream: the first k appended, all fail
            k = rng.randrange(len(stream.sent) + 1)
            for _, p, r, _ in stream.sent[:k]:
                leader.handle(p, r)
            while stream.sent:
                stream.answer(0, None, NetworkError("stream broken"))
            faults["stream_break"] += 1
        elif roll < 0.32:
            stream.answer(0, failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, (0, "b0:1", 1)))
            faults["refused"] += 1
        elif roll < 0.38:  # appended, not committed in time
            leader.handle(partition, records)
            stream.answer(0, failed(ErrorCode.REQUEST_TIMED_OUT))
            faults["timed_out"] += 1
        else:
            stream.answer(0, leader.handle(partition, records))
    return faults


@pytest.mark.parametrize("seed", range(40))
def test_every_record_lands_exactly_once_in_order_whatever_the_faults(seed: int) -> None:
    def body() -> None:
        rng = random.Random(seed)
        rig = Rig(identity=fresh_identity(), batch_size=rng.choice([100, 300, 700]),
                  retry_backoff_ms=10, retry_backoff_max_ms=20)  # fmt: skip
        leader = ModelLeader()
        values = produce(rig, 120, (0, 1))
        total = dict.fromkeys(("lost_after_append", "stream_break", "refused", "timed_out"), 0)
        for _ in range(5_000):
            rig.step()
            for name, count in _serve_one_round(rig, leader, rng).items():
                total[name] += count
            rig.clock.advance(25)
            if not rig.acc.has_incomplete:
                break
        assert not rig.acc.has_incomplete, f"seed {seed}: stuck; faults {total}"
        assert [b.error for b in rig.delivered if b.error is not None] == [], f"seed {seed}"
        for partition in (0, 1):
            assert leader.logs[partition] == values[partition::2], f"seed {seed}, p{partition}"
        # Every delivery report names where its records really are.
        for batch in rig.delivered:
            log = leader.logs[batch.partition]
            assert batch.base_offset >= 0
            assert log[batch.base_offset] is not None
        assert total["lost_after_append"] + total["timed_out"] > 0, "the faults had teeth"

    run(body)


def test_without_idempotence_the_same_faults_duplicate_records() -> None:
    """The model run above with sequences off: lost answers become duplicates. (The model
    leader appends anything without a producer id.)"""

    class PlainLeader(ModelLeader):
        def handle(self, partition: int, records: bytes) -> Any:
            log = self.logs[partition]
            first = len(log)
            log.extend(r.value for r in decode_batch(records))
            return ok(first)

    def body() -> None:
        rng = random.Random(1)
        rig = Rig(batch_size=300, retry_backoff_ms=10, retry_backoff_max_ms=20)
        leader = PlainLeader()
        values = produce(rig, 120, (0, 1))
        for _ in range(5_000):
            rig.step()
            _serve_one_round(rig, leader, rng)
            rig.clock.advance(25)
            if not rig.acc.has_incomplete:
                break
        stored = leader.logs[0] + leader.logs[1]
        assert sorted(set(stored)) == sorted(values)
        assert len(stored) > len(values), "duplicates"

    run(body)
