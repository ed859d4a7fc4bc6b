"""Compacted topics on real brokers (issue 16): the cleaner keeps the last value of every
key, through the public client; replicas compact independently, and a follower that was
down catches up over ranges its leader compacted away and ends with the same last value of
every key as a model of what was acknowledged."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, Producer, TopicPartition
from logd.errors import InvalidRecordError
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.replicas import read_replica_records, stop_all, wait_in_sync, wait_leader

pytestmark = pytest.mark.integration

COMPACT = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}


def fast_cleaner(tmp_path: Path) -> list[str]:
    config = tmp_path / "cleaner.toml"
    config.write_text("log.cleaner.backoff.ms = 100\n")
    return ["--config", str(config)]


def produce_rounds(bootstrap: str, topic: str, rounds: range, keys: int) -> dict[bytes, bytes]:
    """``keys`` keys written once per round (acks=all, a round a batch or so, so segments
    roll at ``segment.bytes``); the last value of each."""
    last: dict[bytes, bytes] = {}
    with Producer(brokers=bootstrap, acks="all", linger_ms=5) as producer:
        for r in rounds:
            for k in range(keys):
                key, value = b"key%03d" % k, b"r%d-%d" % (r, k)
                producer.produce(topic, value, key=key, partition=0)
                last[key] = value
            assert producer.flush(60) == 0
    return last


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the log start to the high watermark."""
    out: list[tuple[int, bytes | None, bytes | None]] = []
    with Consumer(brokers=bootstrap) as consumer:
        tp = TopicPartition(topic, 0)
        _, high = consumer.get_watermark_offsets(tp)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while not out or out[-1][0] < high - 1:
            record = consumer.poll(5.0)
            assert record is not None, f"no record after {out[-1:]} below {high}"
            out.append((record.offset, record.key, record.value))
    return out


def latest(records: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, bytes | None]:
    return {key: value for _, key, value in records if key is not None}


def test_a_compacted_topic_keeps_about_one_record_per_key_and_refuses_keyless_records(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(1, extra_args=fast_cleaner(tmp_path))
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("state", 1, 1, COMPACT)])
    last = produce_rounds(cluster.bootstrap, "state", range(30), keys=100)
    with Producer(brokers=cluster.bootstrap, acks="all", compression_type="none") as producer:
        producer.produce("state", None, key=b"key007", partition=0)  # a tombstone
        assert producer.flush(30) == 0
        producer.produce("state", os.urandom(4000), key=b"filler", partition=0)  # roll twice
        assert producer.flush(30) == 0
        producer.produce("state", b"end", key=b"filler", partition=0)
        assert producer.flush(30) == 0
        errors: list[Exception] = []
        producer.produce("state", b"no key", partition=0, on_delivery=lambda e, _: errors.append(e))
        producer.flush(30)
    assert len(errors) == 1 and isinstance(errors[0], InvalidRecordError), errors
    last.pop(b"key007")
    last[b"filler"] = b"end"

    def compacted() -> list[tuple[int, bytes | None, bytes | None]] | None:
        records = read_all(cluster.bootstrap, "state")
        return records if len(records) <= 110 and b"key007" not in latest(records) else None

    records = wait_until(compacted, timeout=60, interval=0.3, message="the cleaner's work")
    assert records is not None
    assert latest(records) == last
    offsets = [offset for offset, _, _ in records]
    assert (
        offsets == sorted(offsets) and offsets[-1] == 3003
    )  # offsets never change (0: Raft's entry)


def test_replicas_compact_independently_and_a_follower_catches_up_over_cleaned_ranges(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(3, extra_args=fast_cleaner(tmp_path))
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("shared", 1, 3, COMPACT)])
    wait_in_sync(cluster.bootstrap, "shared")
    leader = wait_leader(cluster.bootstrap, "shared").leader
    away = cluster[next(b.node_id for b in cluster if b.node_id != leader)]
    assert away.stop() == 0
    others = ",".join(b.address for b in cluster if b is not away)
    last = produce_rounds(others, "shared", range(40), keys=50)
    wait_until(
        lambda: len(read_all(others, "shared")) < 600, timeout=60, interval=0.3,
        message="the leader's clean",
    )  # fmt: skip
    away.start()
    wait_in_sync(cluster.bootstrap, "shared")
    last.update(produce_rounds(cluster.bootstrap, "shared", range(40, 42), keys=50))
    assert latest(read_all(cluster.bootstrap, "shared")) == last
    stop_all(cluster)
    for broker in cluster:  # every replica's own files hold the same last values
        assert latest(read_replica_records(broker, "shared")) == last, broker.node_id
