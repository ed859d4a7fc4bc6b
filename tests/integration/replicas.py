"""Helpers for replicated-cluster tests: who leads, and what each replica's log holds.

A replica's log is read from its segment files directly (its broker stopped), so the check
does not trust any broker's answer: control batches are skipped as a consumer skips them.
"""

from __future__ import annotations

from pathlib import Path

from logd.client import Admin
from logd.client.types import PartitionInfo
from logd.records.decoder import decode_batch
from logd.records.header import parse_header, peek_batch_size
from logd.storage import Log
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess, Cluster

__all__ = [
    "partition_info",
    "read_replica",
    "read_replica_records",
    "stop_all",
    "wait_in_sync",
    "wait_leader",
]


def partition_info(bootstrap: str, topic: str, partition: int = 0) -> PartitionInfo:
    with Admin(brokers=bootstrap, request_timeout_ms=5000) as admin:
        (described,) = admin.describe_topics([topic])
    return next(p for p in described.partitions if p.partition == partition)


def wait_leader(
    bootstrap: str, topic: str, partition: int = 0, *, not_in: tuple[int, ...] = (),
    timeout: float = 60.0,
) -> PartitionInfo:  # fmt: skip
    """The partition's info once it has a leader outside ``not_in``."""

    def led() -> PartitionInfo | None:
        try:
            info = partition_info(bootstrap, topic, partition)
        except Exception:  # a broker being elected or restarted: ask again
            return None
        return info if info.leader >= 0 and info.leader not in not_in else None

    found = wait_until(led, timeout=timeout, interval=0.05, message=f"a leader of {topic}")
    assert found is not None
    return found


def wait_in_sync(bootstrap: str, topic: str, partitions: int = 1, timeout: float = 60.0) -> None:
    def in_sync() -> bool:
        try:
            return all(
                p.leader >= 0 and sorted(p.isr) == sorted(p.replicas)
                for p in [partition_info(bootstrap, topic, i) for i in range(partitions)]
            )
        except Exception:
            return False

    wait_until(in_sync, timeout=timeout, interval=0.1, message=f"{topic} fully in sync")


def read_replica(broker: BrokerProcess, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    """(offset, value) of every record in the replica's log (its broker is stopped);
    control batches (Raft's own entries) are skipped, as consumers skip them."""
    return [
        (offset, value or b"")
        for offset, _, value in read_replica_records(broker, topic, partition)
    ]


def read_replica_records(
    broker: BrokerProcess, topic: str, partition: int = 0
) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record in the replica's log, as :func:`read_replica`."""
    assert not broker.running, "read a replica's files only while its broker is down"
    log = Log.open(Path(broker.data_dir) / f"{topic}-{partition}")
    out: list[tuple[int, bytes | None, bytes | None]] = []
    try:
        offset = log.log_start_offset
        while offset < log.log_end_offset:
            view = memoryview(log.read(offset, 1 << 30))
            if not view:
                break  # the rest was cleaned away
            pos = 0
            while pos < len(view):
                size = peek_batch_size(view, pos)
                assert size is not None and size <= len(view) - pos
                header = parse_header(view, pos)
                if not header.is_control:
                    batch = decode_batch(view[pos : pos + size])
                    out.extend((r.offset, r.key, r.value) for r in batch.records())
                offset = header.last_offset + 1
                pos += size
        return out
    finally:
        log.close()


def stop_all(cluster: Cluster) -> None:
    for b in cluster:
        if b.running:
            assert b.stop() == 0, b._tail()
