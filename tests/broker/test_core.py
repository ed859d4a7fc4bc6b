"""The broker core without gRPC: commit path, high watermark, long poll, leadership, retention.

Real storage in a temporary directory, a MetadataStore in memory (``harness.MemoryStore``)
and, where timing matters, a flusher whose fsync waits on an event the test controls — so
"not yet durable" is a state the test holds, not a race it hopes to win.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from logd.broker import core as core_module
from logd.broker.api import (
    FetchPartitionRequest,
    ListOffsetsQuery,
    NewTopic,
    OffsetSpec,
    ProduceResult,
)
from logd.broker.config import BrokerConfig, FsyncPolicy
from logd.broker.health import HealthStatus
from logd.broker.partition import Partition
from logd.errors import (
    InvalidTopicError,
    KafkaStorageError,
    NotLeaderOrFollowerError,
    OffsetOutOfRangeError,
    RequestTimedOutError,
)
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.records import build_value_batch, decode_records
from logd.storage import Flusher, FlushPolicy
from logd.storage.space import SpaceState
from tests.broker.harness import TWO_BROKERS, OpenCore, open_core

T = TypeVar("T")
WAIT_S = 30.0  # a bound on waits that must end on their own; never reached when correct


def run(test: Callable[[Path], Awaitable[T]], tmp_path: Path) -> T:
    return asyncio.run(asyncio.wait_for(test(tmp_path), 120))


def batch(*values: bytes, ts: int = 1_000) -> bytes:
    return build_value_batch(list(values), ts)


class GatedFsync:
    """An fsync that blocks until :meth:`open` (or fails, when told to)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.error: OSError | None = None

    def __call__(self, fd: int) -> None:
        self.gate.wait(WAIT_S)
        if self.error is not None:
            raise self.error

    def open(self) -> None:
        self.gate.set()


async def topic(
    ctx: OpenCore, name: str = "t", partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    results = await ctx.core.create_topics([NewTopic(name, partitions, 1, configs or {})])
    assert results[0].error is None, results


async def produced(answer: ProduceResult | asyncio.Future[ProduceResult]) -> ProduceResult:
    return answer if isinstance(answer, ProduceResult) else await answer


def values(records: bytes) -> list[bytes | None]:
    return [r.value for r in decode_records(records)]


def test_acks_all_waits_for_the_fsync_and_the_hw_is_the_commit_point(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            await topic(ctx)
            first = ctx.core.produce_nowait("t", 0, 1, batch(b"a"))
            assert isinstance(first, ProduceResult) and first.base_offset == 0
            second = ctx.core.produce_nowait("t", 0, -1, batch(b"b"))
            assert isinstance(second, asyncio.Future)
            partition = ctx.core.replicas.leader("t", 0)
            # Appended but not durable: readers see nothing yet, the acks=all waits.
            assert (partition.log_end_offset, partition.high_watermark) == (2, 0)
            fetched = await ctx.core.fetch(
                [FetchPartitionRequest("t", 0, 0, 1000)], max_wait_ms=0, min_bytes=0, max_bytes=0
            )
            assert fetched[0].records == b"" and fetched[0].error is None
            assert not second.done()
            fsync.open()
            answer = await asyncio.wait_for(second, WAIT_S)
            assert (answer.error, answer.base_offset) == (None, 1)
            assert partition.high_watermark == 2
        finally:
            fsync.open()
            await ctx.close()

    run(body, tmp_path)


def test_with_fsync_never_the_hw_is_the_log_end(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        config = BrokerConfig(data_dir=tmp / "data", fsync=FsyncPolicy.NEVER)
        ctx = await open_core(tmp, config=config)
        try:
            await topic(ctx)
            assert (await produced(ctx.core.produce_nowait("t", 0, 1, batch(b"a")))).error is None
            assert ctx.core.replicas.leader("t", 0).high_watermark == 1
            fetched = await ctx.core.fetch(
                [FetchPartitionRequest("t", 0, 0, 1000)], max_wait_ms=0, min_bytes=0, max_bytes=0
            )
            assert values(fetched[0].records) == [b"a"]
            # acks=all still means durable: it gets its own fsync under every policy.
            answer = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"b")))
            assert answer.error is None and answer.base_offset == 1
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_acks_all_times_out_while_the_fsync_stalls(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            await topic(ctx)
            answer = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"a"), 50))
            assert isinstance(answer.error, RequestTimedOutError)
            fsync.open()
            # The batch is in the log all the same (as Kafka: a timeout is not a rollback).
            late = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"b")))
            assert late.base_offset == 1
        finally:
            fsync.open()
            await ctx.close()

    run(body, tmp_path)


def test_a_failed_fsync_fails_acks_all_with_a_storage_error(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        fsync.error = OSError(5, "Input/output error")
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            await topic(ctx)
            fsync.open()
            answer = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"a")))
            assert isinstance(answer.error, KafkaStorageError)
            again = await produced(ctx.core.produce_nowait("t", 0, 1, batch(b"b")))
            assert isinstance(again.error, KafkaStorageError)  # the log went offline
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_a_waiting_fetch_wakes_on_commit_and_on_drain(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx, partitions=2)
            request = [
                FetchPartitionRequest("t", 0, 0, 1000),
                FetchPartitionRequest("t", 1, 0, 1000),
            ]
            waiting = asyncio.ensure_future(
                ctx.core.fetch(request, max_wait_ms=600_000, min_bytes=1, max_bytes=0)
            )
            await asyncio.sleep(0)
            assert not waiting.done()
            await produced(ctx.core.produce_nowait("t", 1, -1, batch(b"x")))
            results = await asyncio.wait_for(waiting, WAIT_S)
            assert [values(r.records) for r in results] == [[], [b"x"]]

            parked = asyncio.ensure_future(
                ctx.core.fetch(request[:1], max_wait_ms=600_000, min_bytes=1, max_bytes=0)
            )
            await asyncio.sleep(0)
            assert not parked.done()
            ctx.core.begin_drain()
            drained = await asyncio.wait_for(parked, WAIT_S)
            assert drained[0].records == b"" and drained[0].error is None
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_a_woken_fetch_answers_in_the_loop_turn_after_its_wake(tmp_path: Path) -> None:
    """Issue 22: the wake resumes the fetch itself -- no second future (``asyncio.wait_for``)
    and no second loop turn between the commit and the answer."""

    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx)
            parked = asyncio.ensure_future(
                ctx.core.fetch([FetchPartitionRequest("t", 0, 0, 1000)], max_wait_ms=600_000,
                               min_bytes=1, max_bytes=0)
            )  # fmt: skip
            for _ in range(5):
                await asyncio.sleep(0)
            assert not parked.done()
            ctx.core.begin_drain()  # wakes every waiting reader, synchronously
            await asyncio.sleep(0)  # one turn
            assert parked.done()
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_an_acks_all_answer_is_made_in_the_commit_call_itself(tmp_path: Path) -> None:
    """Issue 22: ``Partition.commit`` resolves the produce answer in its own call; through
    a done callback of the partition's future it came one loop turn later (and a front
    end's callback on it one more)."""

    async def body(tmp: Path) -> None:
        fsync = GatedFsync()  # the flusher's own commit never comes first
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            await topic(ctx)
            answers = [ctx.core.produce_nowait("t", 0, -1, batch(b"a", b"b")) for _ in range(2)]
            partition = ctx.core.replicas.leader("t", 0)
            partition.commit(2)  # the first batch only; no await in between
            first, second = answers
            assert isinstance(first, asyncio.Future) and first.done()
            assert (first.result().error, first.result().base_offset) == (None, 0)
            assert isinstance(second, asyncio.Future) and not second.done()
            partition.commit(4)
            assert second.done() and second.result().base_offset == 2
        finally:
            fsync.open()
            await ctx.close()

    run(body, tmp_path)


def test_a_fetch_waits_at_least_max_wait_when_nothing_comes(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx)
            started = time.monotonic()
            results = await ctx.core.fetch(
                [FetchPartitionRequest("t", 0, 0, 1000)], max_wait_ms=100, min_bytes=1, max_bytes=0
            )
            assert time.monotonic() - started >= 0.1
            assert results[0].records == b""
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_fetch_budget_first_partition_whole_later_ones_only_if_they_fit(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx, partitions=3)
            big = batch(b"x" * 3000)
            for p in range(3):
                await produced(ctx.core.produce_nowait("t", p, -1, big))
            await produced(ctx.core.produce_nowait("t", 2, -1, batch(b"s")))
            request = [FetchPartitionRequest("t", p, 0, 0) for p in range(3)]
            results = await ctx.core.fetch(request, max_wait_ms=0, min_bytes=0, max_bytes=1000)
            # The first batch comes whole although larger than the whole budget; then the
            # budget is spent, and later partitions return nothing (but their watermarks).
            assert [len(values(r.records)) for r in results] == [1, 0, 0]
            assert [r.high_watermark for r in results] == [1, 1, 2]
            # Fetching at an offset out of range is reported even with no budget left.
            request[2] = FetchPartitionRequest("t", 2, 99, 0)
            results = await ctx.core.fetch(request, max_wait_ms=0, min_bytes=0, max_bytes=1000)
            assert isinstance(results[2].error, OffsetOutOfRangeError)
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_a_partition_led_elsewhere_answers_not_leader_with_a_hint(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        try:
            led_by_1 = PartitionAssignment(0, (1, 0), leader_id=1, leader_epoch=4, isr=(1, 0))
            await ctx.store.create_topic(TopicRecord("t", "id", (led_by_1,)))
            answer = await produced(ctx.core.produce_nowait("t", 0, 1, batch(b"a")))
            assert isinstance(answer.error, NotLeaderOrFollowerError)
            assert answer.leader_hint is not None
            hint = answer.leader_hint
            assert (hint.leader_id, hint.address, hint.leader_epoch) == (1, "10.0.0.1:7071", 4)
            fetched = await ctx.core.fetch(
                [FetchPartitionRequest("t", 0, 0, 0)], max_wait_ms=0, min_bytes=0, max_bytes=0
            )
            assert isinstance(fetched[0].error, NotLeaderOrFollowerError)
            assert fetched[0].leader_hint == hint
            (offsets,) = await ctx.core.list_offsets([ListOffsetsQuery("t", 0, OffsetSpec.LATEST)])
            assert isinstance(offsets.error, NotLeaderOrFollowerError)
            meta = await ctx.core.metadata(["t"])
            assert [(p.leader_id, p.replicas) for p in meta.topics[0].partitions] == [(1, (1, 0))]

            # Leadership moves here: produce works; moves away: a pending acks=all fails.
            def lead(leader: int, epoch: int) -> Callable[[TopicRecord], TopicRecord]:
                return lambda r: dataclasses.replace(
                    r,
                    partitions=(
                        dataclasses.replace(led_by_1, leader_id=leader, leader_epoch=epoch),
                    ),
                )

            await ctx.store.update_topic("t", lead(0, 5))
            ok = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"a")))
            assert ok.error is None
            # No await between the append and the change: the fsync's completion cannot have
            # been handled yet, so the leader steps down with the append pending.
            pending = ctx.core.produce_nowait("t", 0, -1, batch(b"b"), 60_000)
            await ctx.store.update_topic("t", lead(1, 6))
            lost = await produced(pending)
            assert isinstance(lost.error, NotLeaderOrFollowerError)
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_retention_never_passes_the_high_watermark(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        try:
            await topic(ctx, configs={"segment.bytes": "200", "retention.bytes": "0"})
            for i in range(5):
                await produced(ctx.core.produce_nowait("t", 0, 1, batch(b"%d" % i + b"x" * 150)))
            partition = ctx.core.replicas.leader("t", 0)
            assert len(partition.log.segment_base_offsets()) == 5
            assert partition.high_watermark == 0
            assert partition.enforce_retention() == 0  # nothing committed: nothing goes
            fsync.open()
            commit = ctx.core.produce_nowait("t", 0, -1, batch(b"last"))
            await produced(commit)
            assert partition.high_watermark == 6
            assert partition.enforce_retention() == 5
            assert partition.log_start_offset == 5
            (earliest,) = await ctx.core.list_offsets(
                [ListOffsetsQuery("t", 0, OffsetSpec.EARLIEST)]
            )
            assert earliest.offset == 5
        finally:
            fsync.open()
            await ctx.close()

    run(body, tmp_path)


def test_admin_through_another_store_creates_and_deletes_logs(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        try:
            results = await ctx.core.create_topics(
                [NewTopic("a", 2), NewTopic("__internal"), NewTopic("b", 1, 2)]
            )
            assert [r.error is None for r in results] == [True, True, True]
            # Two brokers: placement (partitioning/) spreads the partitions; this broker
            # hosts exactly those placed on it, and the others answer NOT_LEADER.
            b = ctx.store.topic("b")
            assert b is not None and sorted(b.partitions[0].replicas) == [0, 1]
            placed = {
                (t.name, a.partition): a for t in ctx.store.topics().values() for a in t.partitions
            }
            here = sorted(f"{t}-{p}" for (t, p), a in placed.items() if 0 in a.replicas)
            names = sorted(p.name for p in ctx.logs.data_dir.iterdir() if p.is_dir())
            assert names == here and "b-0" in names
            elsewhere = [(t, p) for (t, p), a in placed.items() if 0 not in a.replicas]
            assert elsewhere, "two brokers, four partitions: some must live on broker 1"
            t, p = elsewhere[0]
            moved = await produced(ctx.core.produce_nowait(t, p, 1, batch(b"x")))
            assert isinstance(moved.error, NotLeaderOrFollowerError)
            assert moved.leader_hint is not None
            assert moved.leader_hint.address == "10.0.0.1:7071"
            missing = await produced(ctx.core.produce_nowait("a", 2, 1, batch(b"x")))
            assert missing.error is not None and missing.error.code == 3
            assert [t.name for t in await ctx.core.list_topics()] == ["a", "b"]
            assert [t.name for t in (await ctx.core.metadata()).topics] == ["a", "b"]
            everything = (await ctx.core.metadata(include_internal=True)).topics
            assert [t.name for t in everything] == ["__internal", "a", "b"]
            (deleted,) = await ctx.core.delete_topics(["a"])
            assert deleted.error is None
            names = sorted(p.name for p in ctx.logs.data_dir.iterdir() if p.is_dir())
            assert names == [n for n in here if not n.startswith("a-")]
        finally:
            await ctx.close()

    run(body, tmp_path)


@pytest.mark.parametrize("acks", [2, -2, 100])
def test_invalid_acks(tmp_path: Path, acks: int) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx)
            answer = await produced(ctx.core.produce_nowait("t", 0, acks, batch(b"a")))
            assert answer.error is not None and answer.error.code == 21
            assert ctx.core.replicas.leader("t", 0).log_end_offset == 0
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_a_partition_moved_away_stops_being_hosted_and_comes_back_empty(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        try:
            here = PartitionAssignment(0, (0,), leader_id=0, leader_epoch=0, isr=(0,))
            await ctx.store.create_topic(TopicRecord("t", "id", (here,)))
            assert (await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"a")))).error is None
            log_dir = ctx.logs.data_dir / "t-0"
            assert log_dir.exists()

            def place(a: PartitionAssignment) -> Callable[[TopicRecord], TopicRecord]:
                return lambda r: dataclasses.replace(r, partitions=(a,))

            there = PartitionAssignment(0, (1,), leader_id=1, leader_epoch=1, isr=(1,))
            await ctx.store.update_topic("t", place(there))
            assert not log_dir.exists()
            moved = await produced(ctx.core.produce_nowait("t", 0, 1, batch(b"b")))
            assert isinstance(moved.error, NotLeaderOrFollowerError)
            assert moved.leader_hint is not None and moved.leader_hint.leader_id == 1

            back = dataclasses.replace(here, leader_epoch=2)
            await ctx.store.update_topic("t", place(back))
            again = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"c")))
            assert (again.error, again.base_offset) == (None, 0)
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_clients_cannot_write_grow_or_delete_logds_internal_topics(tmp_path: Path) -> None:
    """A client record in __consumer_offsets could corrupt a group's state, and more
    partitions would move every group to a coordinator without its offsets."""

    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx, "__consumer_offsets", partitions=2)
            answer = await produced(
                ctx.core.produce_nowait("__consumer_offsets", 0, 1, batch(b"x"))
            )
            assert isinstance(answer.error, InvalidTopicError)
            assert "internal to logd" in str(answer.error)
            assert ctx.core.replicas.leader("__consumer_offsets", 0).log_end_offset == 0
            grown = await ctx.core.create_partitions("__consumer_offsets", 4)
            assert isinstance(grown.error, InvalidTopicError)
            (deleted,) = await ctx.core.delete_topics(["__consumer_offsets"])
            assert isinstance(deleted.error, InvalidTopicError)
            assert len(ctx.store.topic("__consumer_offsets").partitions) == 2
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_fetch_replica_reads_a_followed_partition_up_to_its_high_watermark(
    tmp_path: Path,
) -> None:
    """The broker's own replica is readable whoever leads it (the registry's `_schemas`
    copy); a partition hosted elsewhere only still answers NOT_LEADER_OR_FOLLOWER."""

    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        try:
            here = PartitionAssignment(0, (0, 1), leader_id=0, leader_epoch=1, isr=(0, 1))
            await ctx.store.create_topic(TopicRecord("t", "id", (here,)))
            elsewhere = PartitionAssignment(0, (1,), leader_id=1, leader_epoch=1, isr=(1,))
            await ctx.store.create_topic(TopicRecord("u", "id2", (elsewhere,)))
            ok = await produced(ctx.core.produce_nowait("t", 0, -1, batch(b"a", b"b")))
            assert ok.error is None
            moved = dataclasses.replace(here, leader_id=1, leader_epoch=2)
            await ctx.store.update_topic("t", lambda r: dataclasses.replace(r, partitions=(moved,)))
            request = [FetchPartitionRequest("t", 0, 0, 1 << 20)]
            limits = {"max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20}
            (led,) = await ctx.core.fetch(request, **limits)
            assert isinstance(led.error, NotLeaderOrFollowerError)
            (own,) = await ctx.core.fetch(request, **limits, any_replica=True)
            assert own.error is None and own.high_watermark == 2
            assert values(own.records) == [b"a", b"b"]
            # Nothing past the high watermark: a long poll waits its time, then answers empty.
            started = time.monotonic()
            (waited,) = await ctx.core.fetch(
                [FetchPartitionRequest("t", 0, 2, 1 << 20)],
                max_wait_ms=200, min_bytes=1, max_bytes=1 << 20, any_replica=True,
            )  # fmt: skip
            assert waited.error is None and waited.records == b""
            assert time.monotonic() - started >= 0.19
            (absent,) = await ctx.core.fetch(
                [FetchPartitionRequest("u", 0, 0, 1 << 20)], **limits, any_replica=True
            )
            assert isinstance(absent.error, NotLeaderOrFollowerError)
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_a_woken_fetch_reads_again_only_the_partitions_that_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 21: a consumer of many idle partitions woken by one produce reads one log.
    reads: list[int] = []
    real = Partition.read

    def counted(self: Partition, offset: int, max_bytes: int, **kw: bool) -> bytes:
        reads.append(self.tp.partition)
        return real(self, offset, max_bytes, **kw)

    monkeypatch.setattr(Partition, "read", counted)

    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            await topic(ctx, partitions=50)
            request = [FetchPartitionRequest("t", p, 0, 1000) for p in range(50)]
            waiting = asyncio.ensure_future(
                ctx.core.fetch(request, max_wait_ms=600_000, min_bytes=1, max_bytes=0)
            )
            await asyncio.sleep(0)
            assert not waiting.done() and sorted(reads) == list(range(50))
            reads.clear()
            await produced(ctx.core.produce_nowait("t", 7, -1, batch(b"x")))
            results = await asyncio.wait_for(waiting, WAIT_S)
            assert reads == [7]
            assert [p for p, r in enumerate(results) if values(r.records)] == [7]
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_health_is_looked_at_again_when_the_disk_state_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Health looks are cached long when they are costly (10,000 partitions: issue 21), but
    # a disk turning full is never hidden behind the cache.
    monkeypatch.setattr(core_module, "HEALTH_MAX_AGE_S", 3600.0)

    async def check(tmp: Path) -> None:
        ctx = await open_core(tmp)
        try:
            assert ctx.core.health().status is HealthStatus.OK
            assert not ctx.logs.space.room_for(1 << 62)  # the disk is full now
            assert ctx.core.health().disk.state is SpaceState.FULL
        finally:
            await ctx.close()

    run(check, tmp_path)
