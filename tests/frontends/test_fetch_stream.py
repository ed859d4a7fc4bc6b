"""The FetchStream call without a network: it goes on by itself, ends where it must.

The stream runs over the real core (in-process, ``tests.broker.harness``) and a fake gRPC
context that collects what is written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from logd.broker.api import FetchPartitionRequest, FetchPartitionResult, NewTopic
from logd.broker.seam import ANONYMOUS, BrokerSeam
from logd.errors import ErrorCode, OffsetOutOfRangeError
from logd.frontends.grpc.fetch_stream import next_requests, serve_fetch_stream
from logd.records import build_value_batch, stamp
from logd.records.header import parse_header
from logd.records.reader import split_batches
from logd.v1 import broker_pb2
from tests.broker.harness import OpenCore, open_core


class FakeContext:
    """What serve_fetch_stream uses of ``grpc.aio.ServicerContext``."""

    def __init__(self) -> None:
        self.written: list[broker_pb2.FetchResponse] = []
        self.news = asyncio.Event()

    async def write(self, message: broker_pb2.FetchResponse) -> None:
        self.written.append(message)
        self.news.set()


def fetch(offset: int, max_wait_ms: int = 5_000) -> broker_pb2.FetchRequest:
    part = broker_pb2.FetchPartition(topic="t", partition=0, offset=offset, max_bytes=1 << 20)
    return broker_pb2.FetchRequest(max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                                   partitions=[part])  # fmt: skip


async def with_core(tmp_path: Path) -> tuple[OpenCore, BrokerSeam]:
    ctx = await open_core(tmp_path)
    (result,) = await ctx.core.create_topics([NewTopic("t", 1)])
    assert result.error is None
    return ctx, ctx.seam()


def offsets(answer: broker_pb2.FetchResponse) -> list[int]:
    (pd,) = answer.partitions
    return [parse_header(b).base_offset for b in split_batches(pd.records).batches]


def test_records_committed_after_an_answer_follow_on_the_same_call(tmp_path: Path) -> None:
    """Issue 22: no new request between answers -- each produce is answered on the call."""

    async def body() -> None:
        ctx, seam = await with_core(tmp_path)
        try:
            context = FakeContext()
            serving = asyncio.ensure_future(
                serve_fetch_stream(seam, fetch(0), context, ANONYMOUS)  # type: ignore[arg-type]
            )
            for i in range(3):
                context.news.clear()
                await seam.produce("t", 0, -1, build_value_batch([b"%d" % i], 1_000))
                await asyncio.wait_for(context.news.wait(), 30)
            assert [offsets(a) for a in context.written if a.partitions[0].records] == [
                [0], [1], [2]
            ]  # fmt: skip
            assert not serving.done()
            serving.cancel()
        finally:
            await ctx.close()

    asyncio.run(body())


def test_an_answer_with_an_error_ends_the_call(tmp_path: Path) -> None:
    async def body() -> None:
        ctx, seam = await with_core(tmp_path)
        try:
            context = FakeContext()
            await asyncio.wait_for(
                serve_fetch_stream(seam, fetch(5), context, ANONYMOUS),  # type: ignore[arg-type]
                30,
            )
            (answer,) = context.written
            assert answer.partitions[0].error.code == ErrorCode.OFFSET_OUT_OF_RANGE
        finally:
            await ctx.close()

    asyncio.run(body())


def test_a_draining_broker_ends_the_call_after_one_answer(tmp_path: Path) -> None:
    async def body() -> None:
        ctx, seam = await with_core(tmp_path)
        try:
            seam.begin_drain()
            context = FakeContext()
            await asyncio.wait_for(
                serve_fetch_stream(seam, fetch(0), context, ANONYMOUS),  # type: ignore[arg-type]
                30,
            )
            assert len(context.written) == 1
        finally:
            await ctx.close()

    asyncio.run(body())


def test_the_next_round_starts_after_the_last_whole_batch() -> None:
    asked = [FetchPartitionRequest("t", 0, 3, 100), FetchPartitionRequest("t", 1, 7, 100)]
    two = build_value_batch([b"a", b"b"], 1_000)
    stamped = bytearray(two)
    stamp(stamped, 2, 0)  # offsets 2..3: the batch holding the asked offset 3
    whole = FetchPartitionResult("t", 0, records=bytes(stamped))
    empty = FetchPartitionResult("t", 1)
    assert [p.offset for p in next_requests(asked, [whole, empty]) or []] == [4, 7]
    partial = FetchPartitionResult("t", 0, records=bytes(stamped)[:-3])
    assert next_requests(asked, [partial, empty]) is None
    failed = FetchPartitionResult("t", 1, error=OffsetOutOfRangeError("out"))
    assert next_requests(asked, [whole, failed]) is None


def test_a_call_with_nothing_to_wait_for_ends_instead_of_spinning(tmp_path: Path) -> None:
    """No partitions, or ``max_wait_ms`` 0 and nothing new: one answer, then the call ends
    (a round after it could only answer the same thing at once, again and again)."""

    async def body() -> None:
        ctx, seam = await with_core(tmp_path)
        try:
            for request in (broker_pb2.FetchRequest(max_wait_ms=5_000), fetch(0, max_wait_ms=0)):
                context = FakeContext()
                await asyncio.wait_for(
                    serve_fetch_stream(seam, request, context, ANONYMOUS),  # type: ignore[arg-type]
                    30,
                )
                assert len(context.written) == 1
        finally:
            await ctx.close()

    asyncio.run(body())
