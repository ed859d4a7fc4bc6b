"""``__consumer_offsets`` is compacted: a coordinator taking over a partition that held a
million commits of one group loads it, once cleaned, in time proportional to the group's
partitions, not to the history (issue 16)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from logd.broker.api import NewTopic, TopicPartition
from logd.broker.config import BrokerConfig
from logd.broker.groups.offsets_topic import offsets_topic_configs
from logd.broker.groups.replay import replay_partition
from logd.broker.groups.settings import GroupSettings
from logd.groups.config import CoordinatorConfig
from logd.groups.coordinator import GroupCoordinator
from logd.groups.log_format import (
    OffsetCommitKey,
    OffsetCommitValue,
    encode_offset_commit_key,
    encode_offset_commit_value,
)
from logd.groups.partition import OFFSETS_TOPIC
from logd.records.builder import BatchBuilder
from logd.storage.cleaner import clean_log
from tests.broker.harness import open_core

PARTITIONS = 100  # the group's topic-partitions: the keys that survive
PER_BATCH = 1000


def _batches(now_ms: int, commits: int) -> list[bytes]:
    keys = [encode_offset_commit_key(OffsetCommitKey("g", "t", p)) for p in range(PARTITIONS)]
    out = []
    for start in range(0, commits, PER_BATCH):
        builder = BatchBuilder()
        for i in range(start, start + PER_BATCH):
            value = encode_offset_commit_value(OffsetCommitValue(i, -1, "", now_ms))
            builder.append(now_ms, keys[i % PARTITIONS], value)
        out.append(builder.build())
    return out


@pytest.mark.parametrize("commits", [100_000, pytest.param(1_000_000, marks=pytest.mark.soak)])
def test_a_coordinator_loads_a_million_compacted_commits_in_under_a_second(
    tmp_path: Path, commits: int
) -> None:
    """10^5 commits in the default suite (the same bound), 10^6 under ``make soak``."""

    async def body() -> None:
        ctx = await open_core(tmp_path, config=BrokerConfig(data_dir=tmp_path / "data"))
        try:
            configs = dict(offsets_topic_configs(GroupSettings()))
            configs["segment.bytes"] = str(8 << 20)
            await ctx.core.create_topics([NewTopic(OFFSETS_TOPIC, 1, 1, configs)])
            partition = ctx.core.replicas.get(TopicPartition(OFFSETS_TOPIC, 0))
            assert partition is not None
            now = int(time.time() * 1000)
            for batch in _batches(now, commits):
                partition.append(bytearray(batch), wait_commit=False)
            partition.log.roll()  # what was written is now cleanable; one more commit after
            last = BatchBuilder()
            key = encode_offset_commit_key(OffsetCommitKey("g", "t", 0))
            last.append(
                now, key, encode_offset_commit_value(OffsetCommitValue(commits, -1, "", now))
            )
            committed = partition.append(bytearray(last.build()), wait_commit=True).committed
            assert committed is not None
            await committed
            results = await asyncio.to_thread(
                clean_log, partition.log, map_bytes=1 << 20, now_ms=now
            )
            assert sum(r.records_removed for r in results) == commits - PARTITIONS
            coordinator = GroupCoordinator(CoordinatorConfig(), lambda: "m")
            started = time.monotonic()
            records, _ = await replay_partition(partition, coordinator.replay)
            coordinator.finish_loading(now)
            took = time.monotonic() - started
            assert records == PARTITIONS + 1  # one a partition, and the commit after the roll
            assert took < 1.0, took
            fetched = coordinator.fetch_offsets("g").partitions
            assert {(p.partition, p.offset) for p in fetched} == {
                (p, commits if p == 0 else commits - PARTITIONS + p) for p in range(PARTITIONS)
            }
        finally:
            await ctx.close()

    asyncio.run(body())
