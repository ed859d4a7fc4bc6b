"""Every acknowledged (acks=all) record survives a clean restart and a SIGKILL; the
broker's fsync policy decides whether each one waits for an fsync."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from logd.records.decoder import decode_records
from logd.v1 import broker_pb2
from tests.integration.admin.support import admin_url, get, samples
from tests.integration.cluster import BrokerProcess
from tests.integration.wire import (
    ACKS_ALL,
    batch,
    create_topic,
    fetch,
    produce,
    produce_one,
    values,
)

pytestmark = pytest.mark.integration

#: Produces sent one after the other by the fsync-policy test.
_ONE_AT_A_TIME = 20


def _produce_rounds(b: BrokerProcess, topic: str, rounds: int, start: int) -> list[bytes]:
    """``rounds`` streams of 50 acks=all batches over 2 partitions; the acknowledged values."""
    acked: list[bytes] = []
    for r in range(rounds):
        requests = [
            broker_pb2.ProduceRequest(
                correlation_id=i,
                topic=topic,
                partition=i % 2,
                acks=ACKS_ALL,
                records=batch([b"%d-%d-%d" % (start, r, i), b"%d-%d-%d+" % (start, r, i)]),
            )
            for i in range(50)
        ]
        answers = produce(b, requests)
        for request in requests:
            assert answers[request.correlation_id].error.code == 0
            acked.extend(v for _, v in values(request.records))
    return acked


def _stored(b: BrokerProcess, topic: str) -> list[bytes]:
    out: list[bytes] = []
    for partition in (0, 1):
        offset = 0
        while True:
            data = fetch(b, topic, partition, offset, max_bytes=1 << 20)
            assert data.error.code == 0
            got = values(data.records, start_offset=offset)
            out.extend(v for _, v in got if v is not None)
            # Control batches (a leader's LEADER_CHANGE) hold offsets but no records.
            every = list(decode_records(data.records, start_offset=offset, include_control=True))
            if not every:
                assert offset == data.high_watermark
                break
            offset = every[-1].offset + 1
    return out


@pytest.mark.parametrize("clean", [True, False], ids=["sigterm", "sigkill"])
def test_acknowledged_records_survive_a_restart(broker: BrokerProcess, clean: bool) -> None:
    create_topic(broker, "durable", partitions=2)
    acked = _produce_rounds(broker, "durable", rounds=4, start=0)

    broker.restart(clean=clean)
    marker = broker.data_dir / ".logd_cleanshutdown"
    recovered = "recovered" in broker.stderr_text().split("--- start #2")[1]
    assert recovered is not clean, "recovery ran iff the shutdown was not clean"
    assert not marker.exists(), "the marker is consumed when the broker opens the directory"

    assert sorted(_stored(broker, "durable")) == sorted(acked)
    # The log takes appends where it left off, and they too survive.
    acked += _produce_rounds(broker, "durable", rounds=1, start=1)
    broker.restart(clean=clean)
    assert sorted(_stored(broker, "durable")) == sorted(acked)


def test_a_clean_stop_writes_the_marker(broker: BrokerProcess) -> None:
    create_topic(broker, "t")
    assert broker.stop() == 0
    assert (broker.data_dir / ".logd_cleanshutdown").exists()
    assert "stopped cleanly" in broker.stderr_text()


def test_a_deletion_cut_short_by_a_crash_finishes_at_start(broker: BrokerProcess) -> None:
    create_topic(broker, "kept")
    broker.kill()
    # As if the crash came after the metadata dropped the topic, before its log went: a
    # partition directory the (controller's) metadata does not know.
    shutil.copytree(broker.data_dir / "kept-0", broker.data_dir / "doomed-0")
    broker.start()
    assert not (broker.data_dir / "doomed-0").exists()
    assert (broker.data_dir / "kept-0").exists()


def test_logs_without_a_metadata_file_are_never_deleted(broker: BrokerProcess) -> None:
    create_topic(broker, "precious")
    produce(
        broker,
        [
            broker_pb2.ProduceRequest(
                correlation_id=1, topic="precious", acks=-1, records=batch([b"v"])
            )
        ],
    )
    assert broker.stop() == 0
    # The metadata is the controller's log: a broker that lost it starts a new one.
    shutil.rmtree(broker.data_dir / "__cluster_metadata-0")
    broker.start()
    assert (broker.data_dir / "precious-0").exists()
    assert "not in the metadata; leaving it alone" in broker.stderr_text()


# -- the broker's fsync policy applies to the Raft logs (issue 22) -----------------------


def test_with_fsync_never_acknowledged_records_survive_a_sigkill(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """``--fsync never``: acks=all means "in the page cache", which a process kill keeps."""
    b = broker_factory(extra_args=["--fsync", "never"])
    create_topic(b, "cached", partitions=2)
    acked = _produce_rounds(b, "cached", rounds=1, start=0)
    b.restart(clean=False)
    assert sorted(_stored(b, "cached")) == sorted(acked)


def _fsyncs(b: BrokerProcess) -> float:
    status, body, _ = get(admin_url(b, "/metrics"))
    assert status == 200, body
    return samples(body.decode())[("logd_storage_fsync_latency_seconds_count", ())]


@pytest.mark.parametrize("policy", ["always", "never"])
def test_the_fsync_policy_decides_whether_each_produce_costs_an_fsync(
    broker_factory: Callable[..., BrokerProcess], policy: str
) -> None:
    """One acks=all produce at a time: ``always`` fsyncs the log for each of them (the
    broker's fsync count grows by at least one per produce), ``never`` does not."""
    b = broker_factory(extra_args=["--fsync", policy])
    create_topic(b, "counted")
    assert produce_one(b, "counted", 0, batch([b"warm-up"])).error.code == 0
    before = _fsyncs(b)
    for i in range(_ONE_AT_A_TIME):
        assert produce_one(b, "counted", 0, batch([b"%d" % i])).error.code == 0
    grew = _fsyncs(b) - before
    if policy == "always":
        assert grew >= _ONE_AT_A_TIME
    else:
        assert grew < _ONE_AT_A_TIME // 2
