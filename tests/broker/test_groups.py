"""The broker's group service without gRPC: the leadership hook it hangs on, the offsets
topic, requests through the drivers, replay after a restart, leadership moving away, and
a write that does not commit in time.

Real storage in a temporary directory and a MetadataStore in memory (``harness``), so a
leadership change is one ``update_topic`` and "not yet durable" is a gate the test holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from logd.broker.api import NewTopic
from logd.broker.groups.service import GroupService
from logd.broker.groups.settings import GroupSettings
from logd.clock import SystemClock
from logd.errors import ErrorCode
from logd.groups.messages import (
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    OffsetCommitPartition,
    OffsetCommitRequest,
    SyncGroupAssignment,
    SyncGroupRequest,
    TopicPartition,
)
from logd.groups.partition import OFFSETS_TOPIC, offsets_partition_for
from logd.groups.state import GroupState
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.storage import Flusher, FlushPolicy
from tests.broker.harness import ONE_BROKER, TWO_BROKERS, OpenCore, open_core

T = TypeVar("T")
WAIT_S = 30.0
SETTINGS = GroupSettings(
    offsets_topic_num_partitions=2,
    group_initial_rebalance_delay_ms=0,
    group_min_session_timeout_ms=100,
)


def run(test: Callable[[Path], Awaitable[T]], tmp_path: Path) -> T:
    return asyncio.run(asyncio.wait_for(test(tmp_path), 120))


async def open_groups(
    tmp: Path, *, settings: GroupSettings = SETTINGS, **kwargs: object
) -> tuple[OpenCore, GroupService]:
    ctx = await open_core(tmp, **kwargs)  # type: ignore[arg-type]
    service = GroupService(
        settings, ctx.store, ctx.core.replicas, ctx.core.create_topics, SystemClock(), node_id=0
    )
    service.start()
    return ctx, service


async def close(ctx: OpenCore, service: GroupService) -> None:
    service.close()
    await ctx.close()


async def loaded(service: GroupService) -> None:
    for driver in service.drivers.values():
        await asyncio.wait_for(driver.loaded.wait(), WAIT_S)


def join_request(group: str, member_id: str = "", instance: str | None = None) -> JoinGroupRequest:
    return JoinGroupRequest(
        group_id=group,
        member_id=member_id,
        protocol_type="consumer",
        protocols=(JoinGroupProtocol("range", b"sub"),),
        session_timeout_ms=10_000,
        rebalance_timeout_ms=10_000,
        group_instance_id=instance,
        client_id="c",
    )


async def join(service: GroupService, group: str) -> JoinGroupResponse:
    first = await service.join_group(join_request(group))
    assert first.error is ErrorCode.MEMBER_ID_REQUIRED
    answer = await service.join_group(join_request(group, first.member_id))
    assert answer.error is ErrorCode.NONE, answer
    return answer


def commit_request(
    group: str, offset: int, generation: int = -1, member: str = ""
) -> OffsetCommitRequest:
    return OffsetCommitRequest(
        group, (OffsetCommitPartition("t", 0, offset),), generation_id=generation, member_id=member
    )


class GatedFsync:
    """An fsync that blocks until :meth:`open`."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, fd: int) -> None:
        self.gate.wait(WAIT_S)

    def open(self) -> None:
        self.gate.set()


def test_leadership_listeners_hear_start_moves_epochs_and_removal(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx = await open_core(tmp, brokers=TWO_BROKERS)
        heard: list[tuple[str, int, bool, int]] = []
        replicas = ctx.core.replicas
        try:
            led = (
                PartitionAssignment(0, (0, 1), 0, 3, (0, 1)),
                PartitionAssignment(1, (0, 1), 0, 3),
            )
            await ctx.store.create_topic(TopicRecord("t", "id", led))
            replicas.add_leadership_listener(lambda *e: heard.append(e))
            assert heard == [("t", 0, True, 3), ("t", 1, True, 3)]  # replayed at registration
            heard.clear()

            def move(record: TopicRecord) -> TopicRecord:
                parts = (
                    dataclasses.replace(record.partitions[0], leader_epoch=4),
                    dataclasses.replace(record.partitions[1], leader_id=1, leader_epoch=4),
                )
                return dataclasses.replace(record, partitions=parts)

            await ctx.store.update_topic("t", move)
            # p0: a new epoch is announced as stop then start; p1: led elsewhere now.
            assert heard == [("t", 0, False, 3), ("t", 0, True, 4), ("t", 1, False, 3)]
            heard.clear()
            await ctx.store.update_topic("t", lambda r: r)
            assert heard == []  # nothing changed, nothing announced
            await ctx.store.delete_topic("t")
            assert heard == [("t", 0, False, 4)]
        finally:
            await ctx.close()

    run(body, tmp_path)


def test_find_coordinator_creates_the_offsets_topic_and_names_its_leader(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx, service = await open_groups(tmp)
        try:
            assert ctx.store.topic(OFFSETS_TOPIC) is None
            (found,) = await service.find_coordinators(["payments"])
            record = ctx.store.topic(OFFSETS_TOPIC)
            assert record is not None and len(record.partitions) == 2
            assert record.replication_factor == 1  # min(3, one broker)
            assert record.configs["cleanup.policy"] == "compact"  # one record per live key
            broker = ONE_BROKER[0]
            assert (found.error, found.node_id, found.host, found.port) == (
                None, 0, broker.host, broker.port)  # fmt: skip
            assert found.partition == offsets_partition_for("payments", 2)
            assert sorted(service.drivers) == [0, 1]  # this broker leads both partitions
            listing = await ctx.core.list_topics()
            assert OFFSETS_TOPIC not in [t.name for t in listing]  # internal: hidden
        finally:
            await close(ctx, service)

    run(body, tmp_path)


def test_groups_and_offsets_come_back_after_a_restart(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx, service = await open_groups(tmp)
        try:
            await service.find_coordinators(["g"])
            await loaded(service)
            joined = await join(service, "g")
            synced = await service.sync_group(
                SyncGroupRequest("g", joined.generation_id, joined.member_id,
                                 (SyncGroupAssignment(joined.member_id, b"mine"),))
            )  # fmt: skip
            assert (synced.error, synced.assignment) == (ErrorCode.NONE, b"mine")
            request = commit_request("g", 42, joined.generation_id, joined.member_id)
            committed = await service.commit_offsets(request)
            assert [p.error for p in committed.partitions] == [ErrorCode.NONE]
            record = ctx.store.topic(OFFSETS_TOPIC)
            assert record is not None
        finally:
            await close(ctx, service)
        # Reopen the same data directory: the store is in memory, so give it the topic.
        ctx, service = await open_groups(tmp)
        try:
            await ctx.store.create_topic(record)
            await loaded(service)
            fetched = await service.fetch_offsets("g", [TopicPartition("t", 0)])
            assert [p.offset for p in fetched.partitions] == [42]
            ((described, _),) = await service.describe_groups(["g"])
            assert described.state is GroupState.STABLE
            assert [m.member_id for m in described.members] == [joined.member_id]
        finally:
            await close(ctx, service)

    run(body, tmp_path)


def test_losing_leadership_answers_waiting_requests_not_coordinator(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        ctx, service = await open_groups(tmp, brokers=TWO_BROKERS)
        try:
            led = tuple(PartitionAssignment(p, (0, 1), 0, 1, (0, 1)) for p in range(2))
            await ctx.store.create_topic(
                TopicRecord(OFFSETS_TOPIC, "offsets", led, {"retention.ms": "-1"})
            )
            await loaded(service)
            await join(service, "g")  # a Stable group of one
            # A second member's JoinGroup waits for the first to rejoin.
            second = await service.join_group(join_request("g"))
            parked = asyncio.ensure_future(service.join_group(join_request("g", second.member_id)))
            await asyncio.sleep(0)
            assert not parked.done()
            partition = offsets_partition_for("g", 2)

            def move(record: TopicRecord) -> TopicRecord:
                parts = list(record.partitions)
                parts[partition] = dataclasses.replace(
                    parts[partition], leader_id=1, leader_epoch=2
                )
                return dataclasses.replace(record, partitions=tuple(parts))

            await ctx.store.update_topic(OFFSETS_TOPIC, move)
            answer = await asyncio.wait_for(parked, WAIT_S)
            assert answer.error is ErrorCode.NOT_COORDINATOR
            assert partition not in service.drivers
            again = await service.join_group(join_request("g"))
            assert again.error is ErrorCode.NOT_COORDINATOR
            (found,) = await service.find_coordinators(["g"])
            assert (found.node_id, found.port) == (1, TWO_BROKERS[1].port)
        finally:
            await close(ctx, service)

    run(body, tmp_path)


def test_a_write_that_does_not_commit_in_time_is_answered(tmp_path: Path) -> None:
    async def body(tmp: Path) -> None:
        fsync = GatedFsync()
        settings = dataclasses.replace(SETTINGS, offsets_commit_timeout_ms=100)
        flusher = Flusher(FlushPolicy.ALWAYS, fsync=fsync)
        ctx, service = await open_groups(tmp, settings=settings, flusher=flusher)
        try:
            await ctx.core.create_topics([NewTopic("t", 1, 1)])
            await service.find_coordinators(["g"])
            await loaded(service)
            answer = await asyncio.wait_for(service.commit_offsets(commit_request("g", 5)), WAIT_S)
            # REQUEST_TIMED_OUT from the log becomes Kafka's COORDINATOR_NOT_AVAILABLE.
            assert [p.error for p in answer.partitions] == [ErrorCode.COORDINATOR_NOT_AVAILABLE]
            fetched = await service.fetch_offsets("g")
            assert fetched.partitions == ()  # not durable: not visible
        finally:
            fsync.open()
            await close(ctx, service)

    run(body, tmp_path)
