"""Group coordinator core throughput: heartbeats, commits, a big rebalance, replay.

Run: ``.venv/bin/python -m bench.groups [--members N] [--rounds R]``.

The sans-I/O core alone — no gRPC, no log: each "write" is reported durable as soon as it
is handed out, so the figures are the core's own cost per operation (the ceiling a driver
can reach on one core), best of ``--rounds``:

* ``heartbeat``   heartbeats/s from the members of a Stable group, round robin
* ``commit``      OffsetCommit of one partition, validated, encoded, persisted, answered
* ``commit x100`` partitions/s when each OffsetCommit carries 100 partitions
* ``rebalance``   seconds for ``--members`` members to join a new group (id handshake
                  included), the leader to sync everyone's assignment, and all to be answered
* ``replay``      __consumer_offsets records/s decoded and loaded by a new coordinator

A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from collections.abc import Callable

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.coordinator import GroupCoordinator
from logd.groups.messages import (
    HeartbeatRequest,
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    OffsetCommitPartition,
    OffsetCommitRequest,
    SyncGroupAssignment,
    SyncGroupRequest,
)
from logd.groups.outbox import OffsetsRecord

__all__ = ["main"]

T0 = 1_700_000_000_000
PROTOCOLS = (JoinGroupProtocol("range", b"\x00\x01" + b"\x00" * 30),)


class Driver:
    """Runs a coordinator with instant durability; keeps answers and the log."""

    def __init__(self, members: int) -> None:
        config = CoordinatorConfig(max_session_timeout_ms=3_600_000)
        ids = itertools.count()
        self.core = GroupCoordinator(config, lambda: str(next(ids)))
        self.core.finish_loading(T0)
        self.now = T0
        self.answers: dict[int, object] = {}
        self.log: list[OffsetsRecord] = []
        self.rid = itertools.count(1)
        self.members = members

    def pump(self) -> None:
        while ready := self.core.ready():
            for write in ready.writes:
                self.log.extend(write.records)
                self.core.on_persisted(write.write_id, self.now)
            for response in ready.responses:
                self.answers[response.request_id] = response.body

    def join(self, member_id: str) -> int:
        rid = next(self.rid)
        req = JoinGroupRequest("g", member_id, "consumer", PROTOCOLS, 3_600_000, 60_000, None, "c")
        self.core.join_group(rid, req, self.now)
        self.pump()
        return rid

    def form(self) -> tuple[list[str], int]:
        """All members join, the phase ends, the leader syncs; returns ids and generation."""
        ids = []
        for _ in range(self.members):
            body = self.answers.pop(self.join(""))
            assert isinstance(body, JoinGroupResponse)
            ids.append(body.member_id)
        rids = [self.join(member_id) for member_id in ids]
        while not all(r in self.answers for r in rids):
            deadline = self.core.next_deadline_ms()
            assert deadline is not None
            self.now = deadline
            self.core.tick(self.now)
            self.pump()
        leader = self.answers[rids[0]]
        assert isinstance(leader, JoinGroupResponse) and leader.error is ErrorCode.NONE
        plan = tuple(SyncGroupAssignment(m, b"\x00\x03" + b"\x00" * 40) for m in ids)
        syncs = []
        for member_id in ids:
            rid = next(self.rid)
            assignments = plan if member_id == leader.leader_id else ()
            req = SyncGroupRequest("g", leader.generation_id, member_id, assignments)
            self.core.sync_group(rid, req, self.now)
            syncs.append(rid)
        self.pump()
        assert all(r in self.answers for r in syncs)
        return ids, leader.generation_id


def _best(rounds: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(rounds))


def bench_heartbeat(members: int, count: int) -> float:
    d = Driver(members)
    ids, generation = d.form()
    start = time.perf_counter()
    for i in range(count):
        d.now += 1
        d.core.heartbeat(i + 10_000_000, HeartbeatRequest("g", generation, ids[i % members]), d.now)
        d.pump()
    return (time.perf_counter() - start) / count


def bench_commit(members: int, count: int, partitions: int) -> float:
    d = Driver(members)
    ids, generation = d.form()
    start = time.perf_counter()
    for i in range(count):
        parts = tuple(OffsetCommitPartition("events", p, i) for p in range(partitions))
        req = OffsetCommitRequest("g", parts, generation, ids[i % members])
        d.core.commit_offsets(i + 10_000_000, req, d.now)
        d.pump()
    return (time.perf_counter() - start) / (count * partitions)


def bench_rebalance(members: int) -> float:
    start = time.perf_counter()
    Driver(members).form()
    return time.perf_counter() - start


def bench_replay(members: int, commits: int) -> tuple[float, int]:
    d = Driver(members)
    ids, generation = d.form()
    for i in range(commits):
        part = (OffsetCommitPartition("events", i % 64, i),)
        d.core.commit_offsets(
            i + 10_000_000, OffsetCommitRequest("g", part, generation, ids[0]), d.now
        )
        d.pump()
    log = d.log
    start = time.perf_counter()
    fresh = GroupCoordinator(CoordinatorConfig(), lambda: "x")
    for record in log:
        fresh.replay(record.key, record.value)
    fresh.finish_loading(d.now)
    elapsed = time.perf_counter() - start
    assert len(fresh.fetch_offsets("g").partitions) == 64
    return elapsed / len(log), len(log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    n, rounds = args.members, args.rounds
    print(f"python {platform.python_version()} on {platform.machine()}, {n} members")
    per_hb = _best(rounds, lambda: bench_heartbeat(n, 100_000))
    print(f"heartbeat     {1 / per_hb:>12,.0f} /s")
    per_commit = _best(rounds, lambda: bench_commit(n, 50_000, 1))
    print(f"commit        {1 / per_commit:>12,.0f} /s")
    per_part = _best(rounds, lambda: bench_commit(n, 2_000, 100))
    print(f"commit x100   {1 / per_part:>12,.0f} partitions/s")
    seconds = _best(rounds, lambda: bench_rebalance(n))
    print(f"rebalance     {seconds:>12.3f} s for {n} members")
    per_record, records = min(bench_replay(n, 100_000) for _ in range(rounds))
    print(f"replay        {1 / per_record:>12,.0f} records/s ({records:,} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
