"""The suite's arithmetic: percentiles, the ratios in its table, the verdicts on targets.

Pure functions over made-up results: no broker, no timing.
"""

from __future__ import annotations

import pytest

from bench.harness import Result, percentiles
from bench.report import markdown, ratio, targets

ALL = "1 node, acks=all, fsync always"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 1001)]
    assert percentiles(values, (50, 99, 99.9, 100)) == [500.0, 990.0, 999.0, 1000.0]
    assert percentiles([], (50,)) == [None]
    assert percentiles([7.0], (50, 99.9)) == [7.0, 7.0]


def test_ratios_are_logd_over_theirs_and_lower_latency_wins() -> None:
    ours = Result.throughput("logd", ALL, "produce-batch", 100, 3_000_000, 1.0)
    theirs = Result.throughput("redis-streams", "aof", "produce-batch", 100, 150_000, 1.0)
    assert ratio(ours, theirs) == 20.0
    fast = Result.latency("logd", ALL, "e2e-latency", 100, [1.0] * 100, 1.0)
    slow = Result.latency("nats-jetstream", "file", "e2e-latency", 100, [4.0] * 100, 1.0)
    assert ratio(fast, slow) == 4.0
    assert ratio(None, theirs) is None


def test_table_has_a_ratio_column_per_logd_mode_and_a_row_per_result() -> None:
    results = [
        Result.throughput("logd", ALL, "replay", 100, 2_000_000, 1.0),
        Result.throughput("rabbitmq-streams", "stream", "replay", 100, 1_000_000, 1.0),
    ]
    lines = markdown(results).splitlines()
    assert "÷acks=all" in lines[0] and "÷acks=1" not in lines[0]
    assert len(lines) == 4
    assert "| rabbitmq-streams |" in lines[3] and "| 2.00 |" in lines[3]


def test_targets_say_met_missed_or_not_measured() -> None:
    results = [
        Result.throughput("logd", ALL, "replay", 100, 2_000_000, 1.0),
        Result.throughput("logd", ALL, "produce-record", 100, 900_000, 1.0),
    ]
    text = targets(results)
    assert "| replay msgs/s | 2,000,000 | >= 1,500,000 | met |" in text
    assert "| produce() msgs/s | 900,000 | >= 1,000,000 | **missed** |" in text
    assert "| e2e p99 ms, RF=3 | - | <= 15.00 | not measured |" in text


@pytest.mark.parametrize(
    ("durability", "column", "not_column"),
    [
        ("1 node, acks=all, fsync interval (1 s)", "÷interval", "÷acks=all"),
        ("3 nodes RF=3, acks=all, fsync interval (1 s)", "÷RF=3 interval", "÷interval"),
    ],
)
def test_each_fsync_interval_row_gets_its_own_ratio_column(
    durability: str, column: str, not_column: str
) -> None:
    results = [
        Result.latency("logd", durability, "e2e-latency", 100, [2.0] * 100, 1.0),
        Result.latency("redis-streams", "aof", "e2e-latency", 100, [1.0] * 100, 1.0),
    ]
    lines = markdown(results).splitlines()
    assert column in lines[0] and not_column not in lines[0]
    assert "| redis-streams |" in lines[3] and "| 0.50 |" in lines[3]
