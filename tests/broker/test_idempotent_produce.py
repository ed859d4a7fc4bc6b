"""The broker core with idempotent producers: duplicates answered, not appended; fencing;
producer ids from blocks; the state rebuilt from snapshots and from the log."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from logd.broker.api import ProduceResult, TopicPartition
from logd.broker.producer_snapshots import list_snapshots
from logd.errors import (
    CorruptRecordError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
    UnknownProducerIdError,
)
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.records import build_value_batch, parse_header
from logd.storage import Flusher, FlushPolicy
from tests.broker.harness import TWO_BROKERS, OpenCore, open_core
from tests.broker.test_core import GatedFsync, produced, run, topic, values

PID = 4242


def idem(seq: int, *vals: bytes, epoch: int = 0, pid: int = PID) -> bytes:
    return build_value_batch(
        list(vals), 1_000, producer_id=pid, producer_epoch=epoch, base_sequence=seq
    )


async def send(ctx: OpenCore, records: bytes, acks: int = -1, name: str = "t") -> ProduceResult:
    return await produced(ctx.core.produce_nowait(name, 0, acks, records, 10_000))


async def stored(ctx: OpenCore, name: str = "t") -> list[bytes | None]:
    partition = ctx.core.replicas.leader(name, 0)
    return values(partition.read(0, 1 << 20))


def test_a_retried_batch_is_answered_with_its_first_offsets_not_appended(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        await topic(ctx)
        first = await send(ctx, idem(0, b"a", b"b"))
        second = await send(ctx, idem(2, b"c"))
        retried = await send(ctx, idem(0, b"a", b"b"))
        assert (first.base_offset, second.base_offset, retried.base_offset) == (0, 2, 0)
        assert retried.error is None
        assert await stored(ctx) == [b"a", b"b", b"c"]
        await ctx.close()

    run(body, tmp_path)


def test_acks_all_answers_a_duplicate_only_once_the_original_is_committed(
    tmp_path: Path,
) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        ctx = await open_core(tmp, flusher=Flusher(FlushPolicy.ALWAYS, fsync=fsync))
        await topic(ctx)
        original = ctx.core.produce_nowait("t", 0, -1, idem(0, b"a"), 10_000)
        retry = ctx.core.produce_nowait("t", 0, -1, idem(0, b"a"), 10_000)
        assert isinstance(original, asyncio.Future) and isinstance(retry, asyncio.Future)
        await asyncio.sleep(0)
        assert not retry.done(), "the original is not durable yet: neither is the retry"
        fsync.open()
        assert (await original).base_offset == (await retry).base_offset == 0
        assert ctx.core.replicas.leader("t", 0).log_end_offset == 1
        await ctx.close()

    run(body, tmp_path)


def test_gaps_stale_epochs_and_unknown_producers_are_refused(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        await topic(ctx)
        assert (await send(ctx, idem(5, b"x"))).error.__class__ is UnknownProducerIdError
        assert (await send(ctx, idem(0, b"a", epoch=1))).error is None
        gap = await send(ctx, idem(2, b"b", epoch=1))
        assert isinstance(gap.error, OutOfOrderSequenceError)
        stale = await send(ctx, idem(1, b"b", epoch=0))
        assert isinstance(stale.error, InvalidProducerEpochError)
        assert "fenced" in str(stale.error)
        assert await stored(ctx) == [b"a"]
        await ctx.close()

    run(body, tmp_path)


def test_a_corrupt_copy_of_a_batch_is_corrupt_not_a_duplicate(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        await topic(ctx)
        batch = idem(0, b"abc")
        await send(ctx, batch)
        damaged = batch[:-1] + bytes([batch[-1] ^ 1])
        assert isinstance((await send(ctx, damaged)).error, CorruptRecordError)
        await ctx.close()

    run(body, tmp_path)


def test_producer_ids_come_from_blocks_and_are_distinct(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        results = await asyncio.gather(*(ctx.core.init_producer_id() for _ in range(1500)))
        ids = [r.producer_id for r in results]
        assert len(set(ids)) == 1500 and all(r.producer_epoch == 0 for r in results)
        assert ctx.store._next_producer_id == 2000, "two blocks of 1000, one write each"
        await ctx.close()

    run(body, tmp_path)


def test_the_state_survives_a_restart_through_a_snapshot_or_a_scan(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        await topic(ctx, configs={"segment.bytes": "300"})
        for seq in range(20):
            assert (await send(ctx, idem(seq, b"v%d" % seq))).error is None
        directory = ctx.core.replicas.leader("t", 0).log.directory
        rolled = list_snapshots(directory)
        assert rolled and all(0 < offset < 20 for offset in rolled), "snapshots at rolls"
        await ctx.close()
        assert list_snapshots(directory)[-1] == 20, "and one at the clean shutdown"

        ctx = await open_core(
            tmp, store=ctx.store
        )  # a clean restart: the shutdown snapshot, nothing scanned
        partition = ctx.core.replicas.leader("t", 0)
        assert partition.rebuild_producer_state() == 0
        assert (await send(ctx, idem(19, b"v19"))).base_offset == 19
        await ctx.close()

        for offset in list_snapshots(directory):  # as if no snapshot had ever been written
            (directory / f"{offset:020d}.snapshot").unlink()
        ctx = await open_core(tmp, store=ctx.store)
        partition = ctx.core.replicas.leader("t", 0)
        assert partition.rebuild_producer_state() == 20, "every batch header scanned"
        assert (await send(ctx, idem(15, b"v15"))).base_offset == 15
        assert (await send(ctx, idem(20, b"v20"))).base_offset == 20
        assert isinstance((await send(ctx, idem(22, b"x"))).error, OutOfOrderSequenceError)
        await ctx.close()

    run(body, tmp_path)


def test_a_damaged_snapshot_falls_back_to_an_older_one_and_the_log(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp)
        await topic(ctx)
        for seq in range(3):
            await send(ctx, idem(seq, b"v"))
        directory = ctx.core.replicas.leader("t", 0).log.directory
        await ctx.close()
        (directory / f"{3:020d}.snapshot").write_bytes(b"garbage")
        (directory / f"{99:020d}.snapshot").write_bytes(b"past the log end")
        ctx = await open_core(tmp, store=ctx.store)
        assert list_snapshots(directory) == [], "both were dropped"
        assert (await send(ctx, idem(2, b"v"))).base_offset == 2
        await ctx.close()

    run(body, tmp_path)


def _stamped(seq: int, offset: int, epoch: int, *vals: bytes) -> bytes:
    """A batch as a leader stamped it (what a follower receives)."""
    return build_value_batch(
        list(vals), 1_000, base_offset=offset, partition_leader_epoch=epoch,
        producer_id=PID, producer_epoch=0, base_sequence=seq,
    )  # fmt: skip


def test_a_follower_keeps_the_state_in_step_and_a_new_leader_rebuilds_it(
    tmp_path: Path,
) -> None:
    """The seams the replication driver uses: ``observe_replicated`` per follower append,
    and the rebuild when leadership arrives."""

    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        led_by_1 = PartitionAssignment(0, (1, 0), leader_id=1, leader_epoch=4, isr=(1, 0))
        await ctx.store.create_topic(TopicRecord("t", "id", (led_by_1,)))
        partition = ctx.core.replicas.get(TopicPartition("t", 0))
        assert partition is not None
        observed = _stamped(0, 0, 4, b"a", b"b")
        partition.log.append_replicated(observed)
        partition.observe_replicated(parse_header(observed))
        assert partition.producers.get(PID) is not None, "observed as it was appended"
        partition.log.append_replicated(_stamped(2, 2, 4, b"c"))  # not observed: rebuilt below

        def lead(r: TopicRecord) -> TopicRecord:
            here = dataclasses.replace(led_by_1, leader_id=0, leader_epoch=5)
            return dataclasses.replace(r, partitions=(here,))

        await ctx.store.update_topic("t", lead)
        retried = await send(ctx, idem(2, b"c"))
        assert (retried.error, retried.base_offset) == (None, 2), "a duplicate after failover"
        assert (await send(ctx, idem(3, b"d"))).base_offset == 3
        await ctx.close()

    run(body, tmp_path)
