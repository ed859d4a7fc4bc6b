"""The fetcher's decisions, one fetch at a time: what it asks, what it keeps, what it drops.

A fake connection answers FetchStream calls with canned responses; no sockets, no waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer.fetch_buffer import FetchBuffer
from logd.client.consumer.fetcher import Fetcher
from logd.client.consumer.subscription import RESET_EARLIEST, SubscriptionState
from logd.client.producer.batch import ProducerBatch
from logd.client.transport.metadata import MetadataCache
from logd.client.types import BrokerInfo, ClusterMetadata, PartitionMetadata, TopicMetadata
from logd.client.types import TopicPartition as TP
from logd.clock import ManualClock
from logd.errors import ErrorCode, OffsetOutOfRangeError
from logd.records import stamp
from logd.v1 import broker_pb2, common_pb2


def batch_bytes(base_offset: int, count: int) -> bytes:
    b = ProducerBatch("t", 0, 0, 1_700_000_000_000, 0.0, 1.0)
    b.values = [b"v%d" % (base_offset + i) for i in range(count)]
    buf = bytearray(b.encode(0))
    stamp(buf, base_offset, 0)
    return bytes(buf)


class FakeConnection:
    """Answers each FetchStream call from ``answers``; once they run out, the stream waits
    (a broker with nothing new) until the test cancels it."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.answers: list[Any] = []
        self.broker = self  # conn.broker.FetchStream
        self.metadata = ()

    def FetchStream(self, request: Any) -> Any:
        raise AssertionError("called through open_stream")

    def open_stream(self, method: Any, request: Any) -> Any:
        assert method == self.FetchStream
        self.requests.append(request)
        return FakeCall()

    async def read_stream(self, call: Any, timeout: float) -> Any:
        if not self.answers:
            await asyncio.Event().wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeCall:
    def cancel(self) -> None:
        pass


class FakePool:
    def __init__(self) -> None:
        self.conn = FakeConnection()

    def get(self, address: str) -> FakeConnection:
        assert address == "b:1"
        return self.conn


class FakeMetadata:
    def __init__(self) -> None:
        self.cache = MetadataCache()
        parts = [PartitionMetadata(p, 0, 0, [0], [0]) for p in range(2)]
        md = ClusterMetadata("c", 0, {0: BrokerInfo(0, "b", 1)}, {"t": TopicMetadata("t", parts)})
        self.cache.update(md, 0.0, complete=True)
        self.refreshes = 0

    async def refresh(self, topics: Any = ()) -> None:
        self.refreshes += 1


class Rig:
    def __init__(self, reset: int | None = RESET_EARLIEST, **options: Any) -> None:
        self.config: ConsumerConfig = parse_config(ConsumerConfig, None, options)
        self.subs = SubscriptionState(reset)
        self.buffer = FetchBuffer(1 << 20)
        self.pool = FakePool()
        self.fetcher = Fetcher(
            self.config, self.pool, FakeMetadata(), self.subs, self.buffer,  # type: ignore[arg-type]
            ManualClock(),
        )  # fmt: skip

    async def fetch_once(self, *answers: Any) -> Any:
        """Open a stream, let it take ``answers``, then end it; the stream's request."""
        self.pool.conn.answers.extend(answers)
        self.fetcher._round(0.0)
        await self.end_streams()
        return self.pool.conn.requests[-1]

    async def end_streams(self) -> None:
        """Let the open streams take what is there, then end them."""
        tasks = [task for task, _ in self.fetcher._in_flight.values()]
        for _ in range(100):
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def data(partition: int, records: bytes = b"", error: ErrorCode | None = None, **kw: int) -> Any:
    err = common_pb2.Error(code=int(error), message=error.name) if error else None
    return broker_pb2.FetchPartitionData(
        topic="t", partition=partition, records=records, error=err, **kw
    )


def answer(*parts: Any) -> Any:
    return broker_pb2.FetchResponse(partitions=list(parts))


def test_whole_batches_go_to_the_buffer_and_the_next_fetch_starts_after_them() -> None:
    async def main() -> None:
        rig = Rig(max_partition_fetch_bytes=4096)
        rig.subs.assign([TP("t", 0, 3)])
        whole = batch_bytes(0, 5) + batch_bytes(5, 5)
        partial = batch_bytes(10, 5)[:-7]
        request = await rig.fetch_once(answer(data(0, whole + partial, high_watermark=15)))
        assert [(p.partition, p.offset, p.max_bytes) for p in request.partitions] == [(0, 3, 4096)]
        state = rig.subs.get(("t", 0))
        assert state.fetch_offset == 10, "the partial third batch is fetched again"
        assert state.high_watermark == 15
        cf = rig.buffer.take_nowait()
        assert cf is not None and len(cf.batches) == 2
        request = await rig.fetch_once(answer(data(0)))
        assert request.partitions[0].offset == 10

    asyncio.run(main())


def test_a_batch_larger_than_max_bytes_doubles_the_ask() -> None:
    async def main() -> None:
        rig = Rig(max_partition_fetch_bytes=64)
        rig.subs.assign([TP("t", 0, 0)])
        big = batch_bytes(0, 50)
        await rig.fetch_once(answer(data(0, big[:64])))
        assert rig.buffer.take_nowait() is None
        request = await rig.fetch_once(answer(data(0, big)))
        assert request.partitions[0].max_bytes == 128
        request = await rig.fetch_once(answer(data(0)))
        assert request.partitions[0].max_bytes == 64, "back to normal once it got through"

    asyncio.run(main())


def test_an_answer_to_a_fetch_made_before_a_seek_is_dropped() -> None:
    async def main() -> None:
        rig = Rig()
        rig.subs.assign([TP("t", 0, 0)])
        rig.pool.conn.answers.append(answer(data(0, batch_bytes(0, 3))))
        rig.fetcher._round(0.0)
        rig.subs.seek(TP("t", 0, 100))
        await rig.end_streams()
        assert rig.buffer.take_nowait() is None
        assert rig.subs.get(("t", 0)).fetch_offset == 100

    asyncio.run(main())


def test_out_of_range_applies_the_reset_policy() -> None:
    async def main() -> None:
        rig = Rig(reset=RESET_EARLIEST)
        rig.subs.assign([TP("t", 0, 500)])
        await rig.fetch_once(answer(data(0, error=ErrorCode.OFFSET_OUT_OF_RANGE)))
        state = rig.subs.get(("t", 0))
        assert state.reset == RESET_EARLIEST and not state.fetchable

    asyncio.run(main())


def test_out_of_range_under_error_names_the_valid_range() -> None:
    async def main() -> None:
        rig = Rig(reset=None)
        rig.subs.assign([TP("t", 0, 500)])
        await rig.fetch_once(
            answer(
                data(0, error=ErrorCode.OFFSET_OUT_OF_RANGE, log_start_offset=3, high_watermark=9)
            )
        )
        for task in list(rig.fetcher._side_tasks):
            await task
        cf = rig.buffer.take_nowait()
        assert cf is not None and isinstance(cf.error, OffsetOutOfRangeError)
        assert str(cf.error) == "offset 500 is out of range for t/0: valid offsets are 3..9"
        assert not rig.subs.get(("t", 0)).fetchable, "not fetched again until a seek"

    asyncio.run(main())


def test_not_leader_forgets_the_leader_and_backs_off() -> None:
    async def main() -> None:
        rig = Rig()
        rig.subs.assign([TP("t", 0, 0), TP("t", 1, 0)])
        await rig.fetch_once(
            answer(data(0, error=ErrorCode.NOT_LEADER_OR_FOLLOWER), data(1, batch_bytes(0, 1)))
        )
        cache = rig.fetcher._metadata.cache
        assert cache.leader_address("t", 0) is None
        assert cache.leader_address("t", 1) == "b:1"
        cf = rig.buffer.take_nowait()
        assert cf is not None and cf.state.partition == 1, "the other partition's data is kept"
        assert rig.fetcher._backoff_until["b:1"] > 0

    asyncio.run(main())


def test_paused_partitions_are_not_fetched() -> None:
    async def main() -> None:
        rig = Rig()
        rig.subs.assign([TP("t", 0, 0), TP("t", 1, 0)])
        rig.subs.set_paused([TP("t", 0)], True)
        request = await rig.fetch_once(answer(data(1)))
        assert [p.partition for p in request.partitions] == [1]

    asyncio.run(main())


def test_one_stream_carries_answer_after_answer_without_a_new_request() -> None:
    """Issue 22: a record committed while an answer travels goes out at once, on the same
    call -- the consumer never has to ask again, so no record waits for a request."""

    async def main() -> None:
        rig = Rig()
        rig.subs.assign([TP("t", 0, 0)])
        await rig.fetch_once(
            answer(data(0, batch_bytes(0, 3))),
            answer(data(0)),  # an empty round (the long poll's wait ran out)
            answer(data(0, batch_bytes(3, 2))),
        )
        assert len(rig.pool.conn.requests) == 1
        assert rig.fetcher.streams_opened == 1
        assert rig.subs.get(("t", 0)).fetch_offset == 5
        firsts = [cf.batches[0] for cf in (rig.buffer.take_nowait(), rig.buffer.take_nowait())]
        assert [len(b) for b in firsts] == [len(batch_bytes(0, 3)), len(batch_bytes(3, 2))]

    asyncio.run(main())


def test_a_seek_replaces_the_stream_with_one_from_the_new_offset() -> None:
    async def main() -> None:
        rig = Rig()
        rig.subs.assign([TP("t", 0, 0), TP("t", 1, 0)])
        rig.fetcher._round(0.0)
        for _ in range(10):
            await asyncio.sleep(0)
        (first,) = rig.fetcher._in_flight.values()
        rig.subs.seek(TP("t", 0, 100))
        rig.fetcher._round(0.0)
        await rig.end_streams()
        assert first[0].cancelled()
        assert [(p.partition, p.offset) for p in rig.pool.conn.requests[-1].partitions] == [
            (0, 100),
            (1, 0),
        ]

    asyncio.run(main())


def test_a_full_buffer_stops_the_stream_reading_until_there_is_room() -> None:
    async def main() -> None:
        rig = Rig()
        rig.buffer.max_bytes = 1  # full after one answer
        rig.subs.assign([TP("t", 0, 0)])
        rig.pool.conn.answers.extend([answer(data(0, batch_bytes(0, 3))),
                                      answer(data(0, batch_bytes(3, 3)))])  # fmt: skip
        rig.fetcher._round(0.0)
        for _ in range(50):
            await asyncio.sleep(0)
        assert len(rig.pool.conn.answers) == 1, "the second answer is not read while full"
        cf = rig.buffer.take_nowait()
        assert cf is not None
        rig.buffer.release(cf)
        rig.fetcher.wakeup()  # what the consumer's release does (on_release)
        await rig.end_streams()
        assert rig.pool.conn.answers == [] and rig.subs.get(("t", 0)).fetch_offset == 6

    asyncio.run(main())
