"""kcat (Debian's, librdkafka 2.0.2: the old feature checks) against a real broker: -L, -P
(every codec), -C by offset and by time, -Q; and the issue's "done when": what kcat
produces, ``logd consume`` reads."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import BrokerProcess
from tests.integration.kafka.conftest import bootstrap

pytestmark = pytest.mark.integration

TIMEOUT_S = 60


def kcat(kafka: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kcat", "-b", kafka, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def logd_consume(broker: BrokerProcess, *args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("logd")), "consume", *args, "-b", broker.address],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_metadata_lists_the_broker_at_its_kafka_address(kafka: str) -> None:
    out = json.loads(kcat(kafka, "-L", "-J"))
    assert [(b["id"], b["name"]) for b in out["brokers"]] == [(0, kafka)]


def test_what_kcat_produces_logd_consume_reads(kafka_broker: BrokerProcess) -> None:
    kafka = bootstrap(kafka_broker)
    kcat(kafka, "-P", "-t", "demo", stdin="".join(f"{i}\n" for i in range(1, 11)))
    records = logd_consume(kafka_broker, "demo", "-o", "start:end")
    assert [r["value"] for r in records] == [str(i) for i in range(1, 11)]
    topics = json.loads(kcat(kafka, "-L", "-J", "-t", "demo"))["topics"]
    assert [t["topic"] for t in topics] == ["demo"]


@pytest.mark.parametrize("codec", ["snappy", "gzip", "lz4", "zstd"])
def test_every_codec_kcat_writes_is_read_by_kcat_and_logd(
    kafka_broker: BrokerProcess, codec: str
) -> None:
    kafka = bootstrap(kafka_broker)
    topic = f"codec-{codec}"
    lines = [f"{codec}-{i}-" + "x" * 200 for i in range(50)]
    kcat(
        kafka,
        "-P",
        "-t",
        topic,
        "-z",
        codec,
        "-K",
        ":",
        stdin="".join(f"k{i}:{v}\n" for i, v in enumerate(lines)),
    )
    got = kcat(kafka, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\n")
    assert got.splitlines() == [f"k{i}={v}" for i, v in enumerate(lines)]
    assert [r["value"] for r in logd_consume(kafka_broker, topic, "-o", "start:end")] == lines


def test_consume_by_offset_and_by_time_and_query_offsets(kafka_broker: BrokerProcess) -> None:
    kafka = bootstrap(kafka_broker)
    topic = "by-time"
    kcat(kafka, "-P", "-t", topic, stdin="early-1\nearly-2\n")
    first = logd_consume(kafka_broker, topic, "-o", "start:end")
    between = int(first[-1]["timestamp"]) + 1  # type: ignore[call-overload]
    deadline = time.monotonic() + 10
    while int(time.time() * 1000) <= between + 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    kcat(kafka, "-P", "-t", topic, stdin="late-1\nlate-2\n")
    offsets = [r["offset"] for r in logd_consume(kafka_broker, topic, "-o", "start:end")]
    # -o N: from an offset
    got = kcat(kafka, "-C", "-t", topic, "-o", str(offsets[1]), "-e", "-f", "%s\n")
    assert got.splitlines() == ["early-2", "late-1", "late-2"]
    # -o s@TIME: from the first record at or after a time; -o e@TIME: stop there
    got = kcat(kafka, "-C", "-t", topic, "-o", f"s@{between}", "-e", "-f", "%s\n")
    assert got.splitlines() == ["late-1", "late-2"]
    got = kcat(kafka, "-C", "-t", topic, "-o", "beginning", "-o", f"e@{between}", "-f", "%s\n")
    assert got.splitlines() == ["early-1", "early-2"]
    # -Q: the offset for a timestamp (ListOffsets by time)
    out = kcat(kafka, "-Q", "-t", f"{topic}:0:{between}")
    assert f"offset {offsets[2]}" in out, out


def test_metadata_names_every_broker_at_its_own_kafka_address(cluster_factory: Any) -> None:
    cluster = cluster_factory(3)
    kafka = {b.node_id: bootstrap(b) for b in cluster}

    def listed() -> dict[int, str]:
        out = json.loads(kcat(kafka[0], "-L", "-J"))
        return {b["id"]: b["name"] for b in out["brokers"]}

    # Each broker registers its Kafka endpoint once its listener is bound.
    deadline = time.monotonic() + TIMEOUT_S
    while listed() != kafka:
        assert time.monotonic() < deadline, listed()
        time.sleep(0.2)
    out = kcat(kafka[1], "-L", "-t", "three", "-J")  # auto-created through broker 1
    assert json.loads(out)["topics"][0]["topic"] == "three"
