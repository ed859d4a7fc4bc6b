"""The sender's decisions, driven step by step: where batches go, retries, order, timeouts.

No network and no wall clock: a fake produce stream records what is sent, answers are fed
back by hand, and a ManualClock tells the time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from logd.client.config import ProducerConfig, parse_config
from logd.client.producer.accumulator import Accumulator, TopicQueues
from logd.client.producer.batch import ProducerBatch
from logd.client.producer.idempotence import Idempotence
from logd.client.producer.sender import Sender
from logd.client.transport.metadata import MetadataCache
from logd.client.types import BrokerInfo, ClusterMetadata, PartitionMetadata, TopicMetadata
from logd.clock import ManualClock
from logd.errors import (
    ErrorCode,
    InvalidRecordError,
    NetworkError,
    RequestTimedOutError,
)
from logd.records import decode_batch
from logd.v1 import broker_pb2, common_pb2
from partitioning import StickyPartitioner

VALUE = b"v" * 84


class FakeStream:
    def __init__(self, address: str) -> None:
        self.address = address
        self.sent: list[tuple[str, int, bytes, Callable[[Any, Any], None]]] = []
        self.max_in_flight = 5
        self.on_available: Callable[[], None] | None = None

    @property
    def available(self) -> int:
        return self.max_in_flight - len(self.sent)

    def send(self, topic: str, partition: int, acks: int, timeout_ms: int, records: bytes,
             callback: Callable[[Any, Any], None]) -> None:  # fmt: skip
        self.sent.append((topic, partition, records, callback))

    def answer(self, index: int, response: Any = None, error: Any = None) -> None:
        _, _, _, callback = self.sent.pop(index)
        callback(response, error)


class FakeConnection:
    def __init__(self, address: str) -> None:
        self.produce_stream = FakeStream(address)

    def close_produce_stream(self, error: Any) -> None:
        pass


class FakePool:
    def __init__(self) -> None:
        self.conns: dict[str, FakeConnection] = {}

    def get(self, address: str) -> FakeConnection:
        return self.conns.setdefault(address, FakeConnection(address))

    def connections(self) -> list[FakeConnection]:
        return list(self.conns.values())

    def stream(self, address: str) -> FakeStream:
        return self.get(address).produce_stream


class FakeMetadata:
    def __init__(self, clock: ManualClock) -> None:
        self.cache = MetadataCache()
        self.refreshes = 0
        md = ClusterMetadata(
            "c", 0,
            {0: BrokerInfo(0, "b0", 1), 1: BrokerInfo(1, "b1", 1)},
            {"t": TopicMetadata("t", [PartitionMetadata(p, 0, 1, [0], [0]) for p in range(2)])},
        )  # fmt: skip
        self.cache.update(md, clock.monotonic(), complete=True)
        self.stale = False

    async def refresh(self, topics: Any = ()) -> None:
        self.refreshes += 1


class Rig:
    def __init__(self, identity: Idempotence | None = None, **options: Any) -> None:
        self.clock = ManualClock()
        self.config: ProducerConfig = parse_config(
            ProducerConfig, None, {"linger_ms": 0, "batch_size": 100, **options}
        )
        self.acc = Accumulator(
            batch_size=self.config.batch_size,
            linger_ms=self.config.linger_ms,
            buffer_memory=1 << 20,
            max_request_size=1 << 20,
            delivery_timeout_ms=self.config.delivery_timeout_ms,
            clock=self.clock,
            partitioner=StickyPartitioner(random.Random(3)),
            waker=lambda: None,
        )
        self.tq: TopicQueues = self.acc.set_partitions("t", 2)
        self.pool = FakePool()
        self.metadata = FakeMetadata(self.clock)
        self.delivered: list[ProducerBatch] = []
        self.sender = Sender(
            self.acc, self.metadata, self.pool, self.config, self.clock,  # type: ignore[arg-type]
            self.delivered.append, rng=random.Random(0), identity=identity,
        )  # fmt: skip

    def step(self) -> float:
        return self.sender._step(self.clock.monotonic())


def ok(base_offset: int) -> Any:
    return broker_pb2.ProduceResponse(base_offset=base_offset, log_append_time_ms=-1)


def failed(code: ErrorCode, hint: tuple[int, str, int] | None = None) -> Any:
    resp = broker_pb2.ProduceResponse(error=common_pb2.Error(code=int(code), message=code.name))
    if hint is not None:
        resp.leader_hint.leader_id, resp.leader_hint.address, resp.leader_hint.leader_epoch = hint
    return resp


def run(test: Callable[[], Any]) -> None:
    async def main() -> None:
        test()
        await asyncio.sleep(0)

    asyncio.run(main())


def test_batches_go_to_the_leader_and_deliver_offsets() -> None:
    def body() -> None:
        rig = Rig()
        rig.acc.append(rig.tq, VALUE, partition=1)
        rig.step()
        stream = rig.pool.stream("b0:1")
        assert [(t, p) for t, p, _, _ in stream.sent] == [("t", 1)]
        stream.answer(0, ok(41))
        (batch,) = rig.delivered
        assert (batch.base_offset, batch.error) == (41, None)

    run(body)


def test_with_linger_0_bursts_behind_a_full_window_go_as_one_batch() -> None:
    # The e2e latency workload's shape (issue 8): linger_ms=0, a burst of records every
    # millisecond, a window that is full until the leader answers. The bursts that came
    # meanwhile must leave as one request when room frees, not one request each (a queue
    # of small requests that the window drains no faster than bursts arrive: RF=3 e2e
    # p99 ~170 ms before).
    def body() -> None:
        rig = Rig(batch_size=1 << 20)
        stream = rig.pool.stream("b0:1")
        stream.max_in_flight = 1
        for _ in range(4):
            for _ in range(10):
                rig.acc.append(rig.tq, VALUE, partition=0)
            rig.step()
            rig.clock.advance(1)
        counts = [len(decode_batch(r).records()) for _, _, r, _ in stream.sent]
        assert counts == [10], "the first burst went; the window is full"
        stream.answer(0, ok(0))
        rig.step()
        counts = [len(decode_batch(r).records()) for _, _, r, _ in stream.sent]
        assert counts == [30], "the three bursts that waited go as one batch"

    run(body)


def test_not_leader_with_a_hint_retries_at_the_new_leader_in_order() -> None:
    def body() -> None:
        rig = Rig()
        for _ in range(3):
            rig.acc.append(rig.tq, VALUE, partition=0)  # one record per batch (batch_size=100)
        rig.acc.begin_flush()
        rig.step()
        old = rig.pool.stream("b0:1")
        records = [r for _, _, r, _ in old.sent]
        assert len(records) == 3, "several batches in flight"
        old.answer(0, failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, (1, "b1:1", 2)))
        assert rig.metadata.cache.leader_address("t", 0) == "b1:1"
        rig.clock.advance(rig.config.retry_backoff_max_ms)
        rig.step()
        new = rig.pool.stream("b1:1")
        assert new.sent == [], "nothing more is sent while a batch behind the retry is in flight"
        old.answer(0, failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, (1, "b1:1", 2)))
        old.answer(0, failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, (1, "b1:1", 2)))
        rig.step()
        assert new.sent == [], "nothing is sent during the backoff"
        rig.clock.advance(rig.config.retry_backoff_max_ms)
        rig.step()
        assert [r for _, _, r, _ in new.sent] == records[:1], "the retry goes alone"
        new.answer(0, ok(10))
        rig.step()
        assert [r for _, _, r, _ in new.sent] == records[1:], "then pipelined again, in order"
        new.answer(0, ok(11))
        new.answer(0, ok(12))
        assert [b.base_offset for b in rig.delivered] == [10, 11, 12]
        assert all(b.error is None for b in rig.delivered)
        assert all(b.attempts == 2 for b in rig.delivered)

    run(body)


def test_a_non_retriable_error_fails_the_batch() -> None:
    def body() -> None:
        rig = Rig()
        rig.acc.append(rig.tq, VALUE, partition=0)
        rig.step()
        rig.pool.stream("b0:1").answer(0, failed(ErrorCode.INVALID_RECORD))
        (batch,) = rig.delivered
        assert isinstance(batch.error, InvalidRecordError)

    run(body)


def test_retries_stop_at_the_delivery_timeout() -> None:
    def body() -> None:
        rig = Rig(delivery_timeout_ms=1000, retry_backoff_ms=100)
        rig.acc.append(rig.tq, VALUE, partition=0)
        for _ in range(50):
            rig.step()
            stream = rig.pool.stream("b0:1")
            if stream.sent:
                stream.answer(0, None, NetworkError("gone"))
            if rig.delivered:
                break
            rig.clock.advance(100)
        (batch,) = rig.delivered
        assert isinstance(batch.error, RequestTimedOutError)
        assert "delivery.timeout.ms" in str(batch.error)
        assert "last error: gone" in str(batch.error)
        assert batch.attempts > 1

    run(body)


def test_no_leader_known_asks_for_metadata() -> None:
    async def main() -> None:
        rig = Rig()
        rig.metadata.cache.forget_leader("t", 0)
        rig.acc.append(rig.tq, VALUE, partition=0)
        rig.step()
        assert rig.pool.conns == {}
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert rig.metadata.refreshes == 1

    asyncio.run(main())


def test_a_batch_too_large_for_the_topic_is_split_in_order() -> None:
    def body() -> None:
        rig = Rig(batch_size=1000)
        seen: list[tuple[Any, Any]] = []
        for i in range(3):
            rig.acc.append(rig.tq, b"%d" % i, partition=0, callback=lambda e, md: seen.append(md))
        rig.acc.begin_flush()
        rig.step()
        stream = rig.pool.stream("b0:1")
        stream.answer(0, failed(ErrorCode.MESSAGE_TOO_LARGE))
        rig.step()
        sizes = [len(list(decode_batch(r))) for _, _, r, _ in stream.sent]
        assert sizes == [1, 2], "two halves, the first half first"
        stream.answer(0, ok(20))
        stream.answer(0, ok(21))
        assert [(b.base_offset, b.error) for b in rig.delivered] == [(20, None), (21, None)]
        for batch in rig.delivered:
            for first, count, target in batch.callbacks or ():
                for i in range(first, first + count):
                    target(None, batch.base_offset + i)  # type: ignore[operator]
        assert seen == [20, 21, 22]
        assert rig.acc.buffered == 0 and not rig.acc.has_incomplete

    run(body)


def test_a_retry_that_expires_lets_the_partition_pipeline_again() -> None:
    def body() -> None:
        rig = Rig(delivery_timeout_ms=1000, retry_backoff_ms=100, enable_idempotence=False, acks=1)
        rig.acc.append(rig.tq, VALUE, partition=0)
        rig.step()
        stream = rig.pool.stream("b0:1")
        stream.answer(0, None, NetworkError("gone"))  # the batch goes into retry
        rig.clock.advance(200)
        rig.step()
        assert len(stream.sent) == 1, "the retry goes alone"
        for _ in range(3):  # three more batches queue up behind it
            rig.acc.append(rig.tq, VALUE, partition=0)
        rig.acc.begin_flush()
        rig.step()
        assert len(stream.sent) == 1, "nothing else is sent while the retry is in flight"
        rig.clock.advance(900)  # past the first batch's delivery timeout, not the others'
        stream.answer(0, None, NetworkError("gone again"))
        (expired,) = rig.delivered
        assert isinstance(expired.error, RequestTimedOutError)
        rig.step()
        assert len(stream.sent) == 3, "with the retry over, the queue pipelines again"

    run(body)
