"""The record accumulator: batching by size and linger, partition choice, backpressure.

Pure: a ManualClock and a seeded random source; no I/O, no event loop.
"""

from __future__ import annotations

import random
import threading

import pytest

from logd.client.producer.accumulator import Accumulator, TopicQueues
from logd.client.producer.batch import RECORD_OVERHEAD
from logd.clock import ManualClock, SystemClock
from logd.errors import (
    InvalidRecordError,
    InvalidRequestError,
    InvalidTimestampError,
    MessageTooLargeError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from partitioning import StickyPartitioner, partition_for
from tests.helpers import wait_until

VALUE = b"v" * 84  # 84 + RECORD_OVERHEAD = 100 bytes accounted per record


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def make(
    *,
    partitions: int = 4,
    batch_size: int = 1000,
    linger_ms: int = 5,
    buffer_memory: int = 1 << 20,
    clock: ManualClock | None = None,
    delivery_timeout_ms: int = 120_000,
) -> tuple[Accumulator, TopicQueues, ManualClock, Wakes]:
    clock = clock or ManualClock()
    wakes = Wakes()
    acc = Accumulator(
        batch_size=batch_size,
        linger_ms=linger_ms,
        buffer_memory=buffer_memory,
        max_request_size=1 << 20,
        delivery_timeout_ms=delivery_timeout_ms,
        clock=clock,
        partitioner=StickyPartitioner(random.Random(7)),
        waker=wakes,
    )
    return acc, acc.set_partitions("t", partitions), clock, wakes


def test_records_fill_a_batch_up_to_batch_size_then_it_closes() -> None:
    acc, tq, _, wakes = make(batch_size=1000)
    for _ in range(10):
        acc.append(tq, VALUE, partition=1)
    pq = tq.queues[1]
    assert pq.open is not None and len(pq.open) == 10 and pq.open.size == 1000
    assert not pq.ready
    before = wakes.count
    acc.append(tq, VALUE, partition=1)  # the 11th does not fit: the batch closes
    assert [len(b) for b in pq.ready] == [10]
    assert len(pq.open) == 1
    assert wakes.count > before, "a closed batch wakes the sender"


def test_a_record_larger_than_batch_size_gets_a_batch_of_its_own() -> None:
    acc, tq, _, _ = make(batch_size=100)
    acc.append(tq, b"x" * 500, partition=0)
    acc.append(tq, b"y", partition=0)
    pq = tq.queues[0]
    assert [b.values for b in pq.ready] == [[b"x" * 500]]
    assert pq.open is not None and pq.open.values == [b"y"]


def test_linger_closes_a_batch_only_when_due() -> None:
    acc, tq, clock, wakes = make(linger_ms=5)
    acc.append(tq, VALUE, partition=2)
    assert wakes.count == 1, "the first batch gives the idle sender a linger deadline"
    queues, next_at = acc.ready(clock.monotonic())
    assert queues == []
    assert next_at == pytest.approx(clock.monotonic() + 0.005)
    acc.append(tq, VALUE, partition=2)
    assert wakes.count == 1, "no wake-up while the sender already has a deadline"
    clock.advance(5)
    queues, next_at = acc.ready(clock.monotonic())
    assert [pq.partition for pq in queues] == [2]
    assert next_at == float("inf")
    assert len(acc.pop(queues[0])) == 2


def test_a_lingered_batch_keeps_taking_records_until_the_sender_takes_it() -> None:
    # linger_ms=0 and a sender whose window is full (it looks, but cannot send): the
    # records of later bursts join the waiting batch instead of queueing one small batch
    # per burst (Kafka's drain() closes a batch only as it sends it). Before: ready()
    # closed every due batch, so each burst became its own request behind the window.
    acc, tq, clock, _ = make(linger_ms=0, batch_size=10_000)
    for _burst in range(3):
        for _ in range(10):
            acc.append(tq, VALUE, partition=1)
        queues, next_at = acc.ready(clock.monotonic())
        assert [pq.partition for pq in queues] == [1]
        assert next_at == float("inf"), "a sendable batch needs no timer"
        clock.advance(1)
    pq = tq.queues[1]
    assert not pq.ready, "nothing closed while the sender could not send"
    head = acc.head(pq, clock.monotonic())
    assert head is pq.open and len(head) == 30
    taken = acc.pop(pq)
    assert taken is head and taken.closed and len(taken) == 30
    assert pq.open is None and acc.head(pq, clock.monotonic()) is None


def test_an_open_batch_is_not_sendable_before_its_linger() -> None:
    acc, tq, clock, _ = make(linger_ms=5)
    acc.append(tq, VALUE, partition=0)
    pq = tq.queues[0]
    assert acc.head(pq, clock.monotonic()) is None
    clock.advance(5)
    assert acc.head(pq, clock.monotonic()) is pq.open


def test_flush_makes_every_open_batch_due_at_once() -> None:
    acc, tq, clock, _ = make(linger_ms=10_000)
    acc.append(tq, VALUE, partition=0)
    acc.append(tq, VALUE, partition=3)
    acc.begin_flush()
    queues, _ = acc.ready(clock.monotonic())
    acc.end_flush()
    assert sorted(pq.partition for pq in queues) == [0, 3]


def test_keyed_records_go_to_partition_for_key() -> None:
    acc, tq, _, _ = make(partitions=5)
    for i in range(50):
        key = b"key-%d" % i
        acc.append(tq, VALUE, key=key)
        pq = tq.queues[partition_for(key, 5)]
        assert pq.open is not None and pq.open.keys is not None and pq.open.keys[-1] == key


def test_explicit_partition_wins_over_the_key() -> None:
    acc, tq, _, _ = make(partitions=5)
    key = b"k"
    other = (partition_for(key, 5) + 1) % 5
    acc.append(tq, VALUE, key=key, partition=other)
    assert tq.queues[other].open is not None


def test_keyless_records_stick_to_one_partition_until_its_batch_closes() -> None:
    acc, tq, _, _ = make(partitions=4, batch_size=1000)
    first = tq.sticky
    for _ in range(10):
        acc.append(tq, VALUE)
    assert len(tq.queues[first].open or []) == 10
    assert sum(1 for pq in tq.queues if pq.open is not None) == 1
    acc.append(tq, VALUE)  # closes the sticky batch: the record goes to the next partition
    assert tq.sticky != first
    assert tq.queues[tq.sticky].open is not None
    assert len(tq.queues[tq.sticky].open or []) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"partition": 4}, UnknownTopicOrPartitionError, "topic 't' has no partition 4 (it has 4"),
        ({"partition": -1}, InvalidRequestError, "partition must be an int >= 0, got -1"),
        ({"partition": "1"}, InvalidRequestError, "partition must be an int >= 0, got '1'"),
        ({"key": 5}, InvalidRecordError, "a record key must be bytes, str or None, not int"),
        ({"timestamp": -5}, InvalidTimestampError, "timestamp -5 is not in"),
        ({"timestamp": 1.5}, InvalidTimestampError, "must be an int of unix milliseconds"),
        ({"headers": [("a",)]}, InvalidRecordError, "a header must be a (str, bytes) pair"),
        ({"headers": [(1, b"x")]}, InvalidRecordError, "a header key must be a str"),
    ],
)
def test_bad_input_is_a_typed_one_line_error(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    acc, tq, _, _ = make()
    with pytest.raises(error) as info:
        acc.append(tq, VALUE, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert acc.buffered == 0, "a refused record takes no buffer memory"


def test_value_types() -> None:
    acc, tq, _, _ = make()
    acc.append(tq, "héllo", partition=0)
    acc.append(tq, bytearray(b"ba"), partition=0)
    acc.append(tq, None, partition=0)
    assert tq.queues[0].open is not None
    assert tq.queues[0].open.values == ["héllo".encode(), b"ba", None]
    with pytest.raises(InvalidRecordError, match="a record value must be bytes, str or None"):
        acc.append(tq, 12, partition=0)


def test_record_larger_than_the_limit_is_refused() -> None:
    acc, tq, _, _ = make(buffer_memory=1000)
    with pytest.raises(MessageTooLargeError, match="exceeds the producer's limit of 1000 bytes"):
        acc.append(tq, b"x" * 2000)


def test_full_buffer_raises_at_once_without_blocking() -> None:
    acc, tq, _, _ = make(buffer_memory=300, batch_size=100)
    for _ in range(3):
        acc.append(tq, VALUE, partition=0)
    with pytest.raises(RequestTimedOutError, match=r"producer buffer full: 300 bytes"):
        acc.append(tq, VALUE, partition=0, block=False)
    batch = tq.queues[0].ready[0]
    acc.complete(batch)  # delivered: its memory is free again
    acc.append(tq, VALUE, partition=0, block=False)
    assert acc.buffered == 300


def test_full_buffer_blocks_until_memory_is_freed() -> None:
    acc, tq, _, _ = make(buffer_memory=200, batch_size=100, clock=None)
    acc.append(tq, VALUE, partition=0)
    acc.append(tq, VALUE, partition=0)
    done = threading.Event()

    def producer() -> None:
        acc.append(tq, VALUE, partition=0, block=True, max_block_s=60.0)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    wait_until(lambda: acc._memory_waiters == 1, message="the producer to block")
    assert not done.is_set()
    acc.complete(tq.queues[0].ready[0])
    thread.join(10)
    assert done.is_set()
    assert acc.buffered == 200


def test_full_buffer_gives_up_after_max_block() -> None:
    wakes = Wakes()
    acc = Accumulator(
        batch_size=100,
        linger_ms=5,
        buffer_memory=100,
        max_request_size=1 << 20,
        delivery_timeout_ms=1000,
        clock=SystemClock(),
        partitioner=StickyPartitioner(random.Random(1)),
        waker=wakes,
    )
    tq = acc.set_partitions("t", 1)
    acc.append(tq, VALUE)
    with pytest.raises(
        RequestTimedOutError, match=r"producer buffer full for 0.05s \(max.block.ms\)"
    ):
        acc.append(tq, VALUE, max_block_s=0.05)


def test_batch_api_appends_slices_bounded_by_batch_size() -> None:
    acc, tq, clock, _ = make(batch_size=1000)
    targets: list[tuple[int, int]] = []

    def target(start: int, count: int) -> object:
        targets.append((start, count))
        return ("run", start)

    values = [b"%03d" % i + b"v" * 81 for i in range(25)]  # 100 bytes accounted each
    acc.append_many(tq, values, partition=1, target=target)
    pq = tq.queues[1]
    acc.begin_flush()
    queues, _ = acc.ready(clock.monotonic())
    batches = []
    while acc.head(queues[0], clock.monotonic()) is not None:
        batches.append(acc.pop(queues[0]))
    acc.end_flush()
    assert pq.open is None and not pq.ready
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [v for b in batches for v in b.values] == values
    assert targets == [(0, 10), (10, 10), (20, 5)]
    assert batches[1].callbacks == [(0, 10, ("run", 10))]


def test_batch_api_with_keys_groups_by_partition() -> None:
    acc, tq, _, _ = make(partitions=3, batch_size=1 << 20)
    keys = [b"k%d" % i for i in range(30)]
    values = [b"v%d" % i for i in range(30)]
    acc.append_many(tq, values, keys=keys)
    for p in range(3):
        b = tq.queues[p].open
        expected = [(k, v) for k, v in zip(keys, values, strict=True) if partition_for(k, 3) == p]
        got = list(zip(b.keys or [], b.values, strict=True)) if b is not None else []
        assert got == expected


def test_batch_api_refuses_mismatched_keys_and_non_sequences() -> None:
    acc, tq, _, _ = make()
    with pytest.raises(InvalidRequestError, match="2 keys for 3 values"):
        acc.append_many(tq, [b"a", b"b", b"c"], keys=[b"x", b"y"])
    with pytest.raises(InvalidRecordError, match="values must be a sequence of bytes"):
        acc.append_many(tq, b"abc")
    with pytest.raises(InvalidRecordError, match="a record value must be bytes"):
        acc.append_many(tq, [b"a", 3])


def test_a_retried_batch_goes_back_before_later_ones() -> None:
    acc, tq, clock, _ = make(batch_size=100)
    for _ in range(3):
        acc.append(tq, VALUE, partition=0)
    acc.begin_flush()
    (pq,), _ = acc.ready(clock.monotonic())
    acc.end_flush()
    first = acc.pop(pq)
    second = acc.pop(pq)
    third = acc.pop(pq)  # the open one: closed as it is taken
    acc.requeue(third, pq)
    acc.requeue(second, pq)
    acc.requeue(first, pq)
    assert [b.seq for b in pq.ready] == [0, 1, 2]


def test_batches_past_the_delivery_timeout_expire() -> None:
    acc, tq, clock, _ = make(delivery_timeout_ms=1000, linger_ms=10_000)
    acc.append(tq, VALUE, partition=0)
    assert acc.expired(clock.monotonic()) == []
    clock.advance(1000)
    (expired,) = acc.expired(clock.monotonic())
    assert expired.values == [VALUE]
    assert tq.queues[0].open is None


def test_close_refuses_new_records_and_abandon_returns_the_rest() -> None:
    acc, tq, _, _ = make()
    acc.append(tq, VALUE, partition=0)
    acc.close()
    with pytest.raises(Exception, match="the producer is closed"):
        acc.append(tq, VALUE, partition=0)
    (left,) = acc.abandon()
    assert left.values == [VALUE]


def test_growing_a_topic_adds_partitions() -> None:
    acc, tq, _, _ = make(partitions=2)
    assert acc.set_partitions("t", 4) is tq
    assert tq.num_partitions == 4 and len(tq.queues) == 4
    acc.append(tq, VALUE, partition=3)
    assert acc.set_partitions("t", 3).num_partitions == 4, "partitions never shrink"


def test_records_are_accounted_with_their_overhead() -> None:
    acc, tq, _, _ = make()
    acc.append(tq, b"abc", key=b"kk", partition=0)
    assert acc.buffered == 3 + 2 + RECORD_OVERHEAD
