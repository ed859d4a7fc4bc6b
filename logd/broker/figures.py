"""One look at a broker for its admin listener (issue 20): the gauges a scrape or a health
probe needs, computed when asked, never kept up to date in between.

* the cluster as this broker's metadata has it: brokers (alive or not), the controller, the
  partitions without a leader and those whose in-sync replicas are fewer than their
  replicas (the ``logd cluster health`` rule: :attr:`BrokerFigures.healthy`);
* what this broker leads and hosts: partitions led, replicas missing from the ISR of the
  partitions it leads (summed over brokers, each counted once), log bytes per topic, the
  data directory's free and total bytes;
* the consumer groups it coordinates: lag summed and at most, per group, against the high
  watermarks of the replicas it hosts (a partition hosted elsewhere is left out of its lag);
* with ``detail`` (opt-in, like Redpanda's ``enable_consumer_group_metrics``), the same per
  partition and per group partition.

Cost: one pass over the metadata's partitions and one over the hosted ones, about 10 ms
at 10,000 partitions, on the scrape's or probe's own time. Read-only; the broker's loop.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from logd.broker.core import BrokerCore
from logd.broker.groups.service import GroupService
from logd.groups.messages import NO_OFFSET
from logd.storage.space import SpaceState

__all__ = ["BrokerFigures", "GroupLag", "PartitionFigures", "gather"]


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionFigures:
    """One hosted partition (``detail`` only)."""

    topic: str
    partition: int
    leader: bool
    log_bytes: int
    high_watermark: int
    log_start_offset: int
    missing_replicas: int


@dataclasses.dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    state: str
    members: int
    lag_sum: int
    lag_max: int
    #: (topic, partition) -> lag (``detail`` only).
    partitions: Mapping[tuple[str, int], int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerFigures:
    node_id: int
    controller_id: int
    #: node id -> alive
    brokers: Mapping[int, bool]
    topics: int
    partitions: int
    leaderless: tuple[str, ...]
    under_replicated: tuple[str, ...]
    leaders_here: int
    under_replicated_replicas: int
    log_bytes: Mapping[str, int]
    disk_free_bytes: int
    disk_total_bytes: int
    groups: tuple[GroupLag, ...]
    hosted: tuple[PartitionFigures, ...] = ()
    #: Alive brokers' own word on their disks (issue 24): node id -> why it is degraded,
    #: node id -> its low-space alert.
    degraded: Mapping[int, str] = dataclasses.field(default_factory=dict)
    low_space: Mapping[int, str] = dataclasses.field(default_factory=dict)
    #: This broker's free-space reserve (``storage.min.free.*``), and whether its disk is
    #: below it (client writes refused) or below the low-space alert (issue 24).
    disk_reserve_bytes: int = 0
    disk_refusing_writes: bool = False
    disk_low: bool = False

    @property
    def nodes_down(self) -> list[int]:
        return sorted(n for n, alive in self.brokers.items() if not alive)

    @property
    def healthy(self) -> bool:
        """``logd cluster health``'s rule: a controller, every broker alive and not
        degraded, every partition led and fully in sync (low space alone is healthy)."""
        return self.controller_id >= 0 and not (
            self.nodes_down or self.leaderless or self.under_replicated or self.degraded
        )


async def gather(
    core: BrokerCore, groups: GroupService | None, *, detail: bool = False
) -> BrokerFigures:
    """See the module docstring."""
    store = core.store
    me = core.node_id
    leaderless: list[str] = []
    under: list[str] = []
    count = leaders_here = missing_here = 0
    for name in sorted(store.topics()):
        record = store.topic(name)  # placement merged with the live leaders and ISR
        if record is None:
            continue  # deleted meanwhile
        for a in record.partitions:
            count += 1
            if a.leader_id < 0:
                leaderless.append(f"{name}/{a.partition}")
            missing = len(a.replicas) - len(a.isr)
            if missing:
                under.append(f"{name}/{a.partition}")
            if a.leader_id == me:
                leaders_here += 1
                missing_here += missing
    log_bytes: dict[str, int] = {}
    hosted: list[PartitionFigures] = []
    high_watermarks: dict[tuple[str, int], int] = {}
    for partition in core.replicas:
        tp = partition.tp
        size = partition.log.size_bytes
        log_bytes[tp.topic] = log_bytes.get(tp.topic, 0) + size
        high_watermarks[(tp.topic, tp.partition)] = partition.high_watermark
        if detail:
            a = partition.assignment
            hosted.append(PartitionFigures(
                tp.topic, tp.partition, partition.is_leader, size, partition.high_watermark,
                partition.log_start_offset, len(a.replicas) - len(a.isr),
            ))  # fmt: skip
    free, total = _disk(core.config.data_dir)
    disk = core.health().disk
    return BrokerFigures(
        node_id=me,
        controller_id=store.controller_id,
        brokers={b.node_id: b.alive for b in store.brokers()},
        degraded={
            b.node_id: b.storage.degraded for b in store.brokers() if b.alive and b.storage.degraded
        },
        low_space={
            b.node_id: b.storage.warning for b in store.brokers() if b.alive and b.storage.warning
        },
        topics=len(store.topics()),
        partitions=count,
        leaderless=tuple(leaderless),
        under_replicated=tuple(under),
        leaders_here=leaders_here,
        under_replicated_replicas=missing_here,
        log_bytes=log_bytes,
        disk_reserve_bytes=disk.reserve_bytes,
        disk_refusing_writes=disk.state is SpaceState.FULL,
        disk_low=disk.state is SpaceState.LOW,
        disk_free_bytes=free,
        disk_total_bytes=total,
        groups=await _group_lags(groups, high_watermarks, detail) if groups is not None else (),
        hosted=tuple(hosted),
    )


async def _group_lags(
    groups: GroupService, high_watermarks: Mapping[tuple[str, int], int], detail: bool
) -> tuple[GroupLag, ...]:
    listed = await groups.list_groups()
    ids = sorted(g.group_id for g in listed.groups)
    out = []
    for described, offsets in await groups.describe_groups(ids, include_offsets=True):
        if offsets is None:
            continue
        lags: dict[tuple[str, int], int] = {}
        for p in offsets.partitions:
            end = high_watermarks.get((p.topic, p.partition))
            if end is None or end < 0 or p.committed_offset == NO_OFFSET:
                continue
            lags[(p.topic, p.partition)] = max(end - p.committed_offset, 0)
        out.append(GroupLag(
            described.group_id, described.state.value, len(described.members), sum(lags.values()),
            max(lags.values(), default=0), lags if detail else {},
        ))  # fmt: skip
    return tuple(out)


def _disk(path: object) -> tuple[int, int]:
    """(free, total) bytes of the filesystem holding ``path``; (0, 0) when it cannot be
    read (the directory gone: the health and log lines say more)."""
    try:
        st = os.statvfs(str(path))
    except OSError:
        return 0, 0
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
