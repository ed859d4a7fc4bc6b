"""Issue 22's table: every target judged from one run's rows, the 1 MiB ratio read against
the ceiling measured beside logd's row, throughput beside an earlier result file.

Pure functions over made-up results (and one result file written to tmp_path): no broker,
no timing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.harness import Result
from bench.issue22 import (
    CEILING_BESIDE,
    FLOOR,
    KAFKA_DOOR,
    KAFKA_E2E,
    Baseline,
    load_baseline,
    mib_ratio,
    newest_baseline,
    targets22,
    throughput_beside,
)

ALL = "1 node, acks=all, fsync always"
RF3 = "3 nodes RF=3, acks=all, fsync always"


def _mib(mb_s: float, system: str = "logd", durability: str = ALL) -> Result:
    return Result(system, durability, "1MiB-batches", 1024, mb_s * 1e6 / 1024, mb_s)


def _row(text: str, name: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith(f"| {name}"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_every_issue_22_target_is_judged_from_one_run() -> None:
    results = [
        Result.latency("logd", ALL, "e2e-latency", 100, [0.5] * 50 + [3.0] * 50, 1.0),
        Result.latency("logd", RF3, "e2e-latency", 100, [10.0] * 100, 1.0),
        Result.latency("nats-jetstream", "file", "e2e-latency", 100, [2.0] * 100, 1.0),
        Result.latency("redis-streams", "aof", "e2e-latency", 100, [6.0] * 100, 1.0),
        _mib(150.0),
        _mib(200.0, "ceiling", CEILING_BESIDE),
    ]
    text = targets22(results)
    assert _row(text, "e2e p50 ms, RF=1")[1:] == ["0.50", "<= 1.00", "met"]
    assert _row(text, "e2e p99 RF=1 ÷ NATS")[1:] == ["1.50", "<= 1.00", "**missed**"]
    assert "NATS p50/p99 2.00 / 2.00 ms" in text
    assert _row(text, "e2e p99 RF=1 ÷ Redis")[1:] == ["0.50", "-", "no target"]
    assert _row(text, "e2e p99 ms, RF=3")[1:] == ["10.00", "<= 15.00", "met"]
    assert _row(text, "1 MiB batches")[1:] == ["0.75", ">= 0.70", "met"]
    assert "same run: 200 MB/s" in text


def test_the_latency_targets_are_judged_through_the_kafka_door_as_well() -> None:
    results = [
        Result.latency("logd", ALL, "e2e-latency", 100, [0.5] * 100, 1.0),
        Result.latency("logd", ALL, KAFKA_E2E, 100, [2.0] * 50 + [4.0] * 50, 1.0),
        Result.latency("logd", RF3, KAFKA_E2E, 100, [12.0] * 100, 1.0),
        Result.latency("nats-jetstream", "file", "e2e-latency", 100, [8.0] * 100, 1.0),
    ]
    text = targets22(results)
    # logd's own client meets the p50 target; the Kafka door's row is its own figure
    assert _row(text, "e2e p50 ms, RF=1")[1:] == ["0.50", "<= 1.00", "met"]
    assert _row(text, f"{KAFKA_DOOR}: e2e p50 ms, RF=1")[1:] == ["2.00", "<= 1.00", "**missed**"]
    assert _row(text, f"{KAFKA_DOOR}: e2e p99 RF=1 ÷ NATS")[1:] == ["0.50", "<= 1.00", "met"]
    assert _row(text, f"{KAFKA_DOOR}: e2e p99 ms, RF=3")[1:] == ["12.00", "<= 15.00", "met"]
    # without the Kafka rows, each says which part of the suite takes it
    bare = targets22(results[:1])
    assert _row(bare, f"{KAFKA_DOOR}: e2e p50 ms, RF=1")[3] == "not measured (mode acks=all)"
    assert _row(bare, f"{KAFKA_DOOR}: e2e p99 ms, RF=3")[3] == "not measured (mode rf3)"


def test_rf1_p50_is_read_against_the_python_floor_of_the_same_run() -> None:
    results = [
        Result.latency("logd", ALL, "e2e-latency", 100, [3.0] * 100, 1.0),
        Result.latency(FLOOR, "1 relay", "e2e-latency", 100, [0.5] * 50 + [2.0] * 50, 1.0),
    ]
    row = _row(targets22(results), "e2e p50 RF=1 ÷ the Python floor")
    assert row[1:] == ["6.00", "-", "no target"]
    assert "floor p50/p99 0.50 / 2.00 ms" in row[0]
    bare = _row(targets22(results[:1]), "e2e p50 RF=1 ÷ the Python floor")
    assert bare[3] == "not measured (--only ceiling)"


def test_a_target_whose_part_did_not_run_says_which_part_to_run() -> None:
    text = targets22([Result.latency("logd", ALL, "e2e-latency", 100, [2.0] * 100, 1.0)])
    assert _row(text, "e2e p50 ms, RF=1")[1:] == ["2.00", "<= 1.00", "**missed**"]
    assert _row(text, "e2e p99 ms, RF=3")[3] == "not measured (mode rf3)"
    assert _row(text, "e2e p99 RF=1 ÷ NATS")[3] == "not measured (--only nats)"
    assert _row(text, "1 MiB batches")[3] == "not measured (mode acks=all)"


def test_the_1_mib_ratio_prefers_the_ceiling_measured_beside_logds_row() -> None:
    peer = _mib(400.0, "ceiling", "fdatasync per 1 MiB write")
    beside = _mib(200.0, "ceiling", CEILING_BESIDE)
    assert mib_ratio([_mib(100.0), peer, beside]) == (0.5, beside)
    assert mib_ratio([_mib(100.0), peer]) == (0.25, peer)
    assert mib_ratio([peer]) == (None, peer)


def test_throughput_rows_sit_beside_the_earlier_file_and_a_loss_is_flagged() -> None:
    now = [
        Result.throughput("logd", ALL, "produce-batch", 100, 900_000, 1.0),
        Result.throughput("logd", ALL, "replay", 100, 700_000, 1.0),
        _mib(120.0),
    ]
    then = [
        Result.throughput("logd", ALL, "produce-batch", 100, 1_000_000, 1.0),
        Result.throughput("logd", ALL, "replay", 100, 1_000_000, 1.0),
        Result.throughput("logd", RF3, "produce-record", 100, 1_000, 1.0),
        _mib(100.0),
    ]
    text = throughput_beside(now, Baseline("suite-X.json", then, "X", "0.5/1.0/1.5"))
    assert "earlier: suite-X.json (X, load 0.5/1.0/1.5)" in text.splitlines()[0]
    assert _row(text, "produce-batch 100 B")[1:] == ["900,000", "1,000,000", "0.90", "kept"]
    assert _row(text, "replay 100 B")[1:] == ["700,000", "1,000,000", "0.70",
                                              "**lower** (< 0.80)"]  # fmt: skip
    assert _row(text, "1MiB-batches 1024 B, MB/s")[1:] == ["120.0", "100.0", "1.20", "kept"]
    # an RF=3 row is not the one-node row the comparison is about
    assert _row(text, "produce-record 100 B")[1:] == ["-", "-", "-", "not measured"]
    assert "earlier: no earlier run" in throughput_beside(now, None)


def test_the_newest_result_file_with_the_rows_is_the_baseline(tmp_path: Path) -> None:
    def write(name: str, results: list[Result], **meta: object) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({**meta, "results": [asdict(r) for r in results]}))
        return path

    batch = Result.throughput("logd", ALL, "produce-batch", 100, 800_000, 1.0)
    old = write("suite-20261207T010000Z.json", [batch], utc="20261207T010000Z", load="1 -> 2")
    write("suite-20261207T020000Z.json", [_mib(1.0)])  # newer, without the rows
    (tmp_path / "suite-20261207T030000Z.json").write_text("{not json")
    found = newest_baseline(tmp_path)
    assert found is not None and found.name == old.name
    assert found.load == "1 -> 2" and found.results[0].msgs_s == 800_000
    assert newest_baseline(tmp_path, exclude=old) is None
    assert load_baseline(old).utc == "20261207T010000Z"
