"""The produce stream without a network: order, backpressure, garbage and draining.

The stream runs over the real core (in-process, ``tests.broker.harness``) and a fake gRPC
context whose writes the test can hold back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from logd.broker.api import NewTopic
from logd.broker.seam import ANONYMOUS
from logd.errors import ErrorCode
from logd.frontends.grpc.errors import ERROR_CODE_KEY
from logd.frontends.grpc.handlers import Malformed
from logd.frontends.grpc.produce_stream import ProduceStream
from logd.records import build_value_batch
from logd.storage import Flusher, FlushPolicy
from logd.v1 import broker_pb2
from tests.broker.harness import OpenCore, open_core
from tests.broker.test_core import GatedFsync


class Aborted(Exception):
    pass


class FakeContext:
    """What ProduceStream uses of ``grpc.aio.ServicerContext``; writes wait for ``flowing``."""

    def __init__(self) -> None:
        self.written: list[broker_pb2.ProduceResponse] = []
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.aborted: tuple[Any, str, dict[str, str]] | None = None

    async def write(self, message: broker_pb2.ProduceResponse) -> None:
        await self.flowing.wait()
        self.written.append(message)

    async def abort(self, code: Any, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, dict(trailing_metadata))
        raise Aborted(details)


def request(cid: int, acks: int = 1, partition: int = 0) -> broker_pb2.ProduceRequest:
    return broker_pb2.ProduceRequest(
        correlation_id=cid,
        topic="t",
        partition=partition,
        acks=acks,
        records=build_value_batch([b"%d" % cid], 1_000),
    )


class Source:
    """An async iterator of requests that counts how many were taken."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.taken = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self.taken == len(self.items):
            raise StopAsyncIteration
        self.taken += 1
        return self.items[self.taken - 1]


async def with_core(tmp_path: Path) -> OpenCore:
    ctx = await open_core(tmp_path)
    (result,) = await ctx.core.create_topics([NewTopic("t", 2)])
    assert result.error is None
    return ctx


def test_answers_every_request_and_keeps_each_partitions_order(tmp_path: Path) -> None:
    async def body() -> None:
        ctx = await with_core(tmp_path)
        try:
            context = FakeContext()
            requests = [request(i, acks=(1, -1, 0)[i % 3], partition=i % 2) for i in range(60)]
            await ProduceStream(ctx.seam(), context, 8, ANONYMOUS).serve(Source(requests))  # type: ignore[arg-type]
            answered = {a.correlation_id: a for a in context.written}
            assert sorted(answered) == [i for i in range(60) if i % 3 != 2]  # acks=0: silent
            for partition in (0, 1):
                sent = [r.correlation_id for r in requests if r.partition == partition]
                offsets = {cid: n for n, cid in enumerate(sent)}
                for cid in sent:
                    if cid in answered:
                        assert answered[cid].base_offset == offsets[cid]
            assert context.aborted is None
        finally:
            await ctx.close()

    asyncio.run(body())


def test_a_client_that_does_not_read_stops_the_stream_reading(tmp_path: Path) -> None:
    async def body() -> None:
        ctx = await with_core(tmp_path)
        try:
            context = FakeContext()
            context.flowing.clear()
            source = Source([request(i) for i in range(10)])
            serving = asyncio.ensure_future(
                ProduceStream(ctx.seam(), context, 2, ANONYMOUS).serve(source)
            )  # type: ignore[arg-type]
            while source.taken < 3:
                await asyncio.sleep(0)
            for _ in range(200):  # nothing can free a slot while writes are held back
                await asyncio.sleep(0)
            # Two requests hold the two slots; the third waits for one, unsubmitted.
            assert source.taken == 3
            assert ctx.core.replicas.leader("t", 0).log_end_offset == 2
            context.flowing.set()
            await asyncio.wait_for(serving, 30)
            assert [a.correlation_id for a in context.written] == list(range(10))
        finally:
            await ctx.close()

    asyncio.run(body())


def test_garbage_ends_the_stream_after_the_answers_due(tmp_path: Path) -> None:
    async def body() -> None:
        ctx = await with_core(tmp_path)
        try:
            context = FakeContext()
            bad = Malformed("logd.v1.ProduceRequest", "truncated")
            source = Source([request(1, acks=-1), bad, request(2)])
            with pytest.raises(Aborted):
                await ProduceStream(ctx.seam(), context, 8, ANONYMOUS).serve(source)  # type: ignore[arg-type]
            assert [a.correlation_id for a in context.written] == [1]
            assert source.taken == 2  # nothing after the garbage was read
            assert context.aborted is not None
            assert context.aborted[2][ERROR_CODE_KEY] == str(int(ErrorCode.INVALID_REQUEST))
        finally:
            await ctx.close()

    asyncio.run(body())


def test_a_stream_drained_before_it_starts_reads_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        ctx = await with_core(tmp_path)
        try:
            context = FakeContext()
            stream = ProduceStream(ctx.seam(), context, 8, ANONYMOUS)  # type: ignore[arg-type]
            stream.drain()
            source = Source([request(1)])
            with pytest.raises(Aborted):
                await stream.serve(source)
            assert source.taken == 0 and context.written == []
            assert context.aborted is not None
            assert context.aborted[2][ERROR_CODE_KEY] == str(int(ErrorCode.BROKER_NOT_AVAILABLE))
        finally:
            await ctx.close()

    asyncio.run(body())


class Held(Source):
    """A Source that, once its items are taken, waits for more instead of ending."""

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)
        self.more = asyncio.Event()

    async def __anext__(self) -> Any:
        if self.taken == len(self.items):
            await self.more.wait()
        return await super().__anext__()


def test_an_acks_all_answer_is_written_in_the_loop_turn_after_its_commit(tmp_path: Path) -> None:
    """Issue 22: the core calls the stream back in ``Partition.commit``'s own call, and the
    writer task writes at its next turn; through done callbacks (the core's on the
    partition's future, the stream's on the answer) it took three turns."""

    async def body() -> None:
        fsync = GatedFsync()  # the flusher's own commit never comes first
        ctx = await open_core(tmp_path, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            (result,) = await ctx.core.create_topics([NewTopic("t", 1)])
            assert result.error is None
            context = FakeContext()
            source = Held([request(7, acks=-1)])
            stream = ProduceStream(ctx.seam(), context, 8, ANONYMOUS)  # type: ignore[arg-type]
            serving = asyncio.ensure_future(stream.serve(source))  # type: ignore[arg-type]
            partition = ctx.core.replicas.leader("t", 0)
            for _ in range(1000):
                if partition.log_end_offset == 1:
                    break
                await asyncio.sleep(0)
            for _ in range(5):
                await asyncio.sleep(0)
            assert partition.log_end_offset == 1 and context.written == []
            partition.commit(1)
            await asyncio.sleep(0)  # one turn
            assert [a.correlation_id for a in context.written] == [7]
            source.more.set()
            await asyncio.wait_for(serving, 30)
        finally:
            fsync.open()
            await ctx.close()

    asyncio.run(body())
