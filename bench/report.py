"""The suite's output: one markdown table with ratios, the targets of issue 8, JSON, a PNG chart.

Ratios: for every row, ``÷<mode>`` is logd's figure in that mode for the same workload and
value size divided by the row's figure -- msgs/s for throughput (above 1: logd is faster),
and the row's p99 divided by logd's for latency (above 1: logd's p99 is lower). logd's own
rows show its modes against each other.

Pure functions over results, except :func:`write_json` and :func:`write_chart` (files).
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import Result, find_result
from bench.issue22 import mib_ratio

__all__ = ["ORDER", "markdown", "ratio", "targets", "write_chart", "write_json"]

ORDER = ["produce-batch", "produce-record", "replay", "e2e-latency", "1MiB-batches",
         "cli-produce", "cli-consume"]  # fmt: skip
#: logd's modes as the table heads them.
MODES = {"1 node, acks=all, fsync always": "acks=all", "1 node, acks=1, fsync always": "acks=1",
         "3 nodes RF=3, acks=all, fsync always": "RF=3",
         "1 node, acks=all, fsync interval (1 s)": "interval",
         "3 nodes RF=3, acks=all, fsync interval (1 s)": "RF=3 interval"}  # fmt: skip


def _logd(results: Sequence[Result], durability: str, workload: str, size: int) -> Result | None:
    for r in results:
        if (r.system, r.durability, r.workload, r.value_bytes) == ("logd", durability, workload,
                                                                   size):  # fmt: skip
            return r
    return None


def ratio(ours: Result | None, theirs: Result) -> float | None:
    """logd ÷ theirs: throughput ratio, or their p99 over ours for latency."""
    if ours is None:
        return None
    if theirs.p99_ms is not None:
        return theirs.p99_ms / ours.p99_ms if ours.p99_ms else None
    if theirs.msgs_s and ours.msgs_s:
        return ours.msgs_s / theirs.msgs_s
    return None


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def markdown(results: Sequence[Result]) -> str:
    modes = [d for d in MODES if any(r.durability == d for r in results)]
    head = ["workload", "value", "system", "durability", "msgs/s", "MB/s", "p50 ms", "p99 ms",
            "p99.9 ms", *(f"÷{MODES[m]}" for m in modes), "note"]  # fmt: skip
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---:" if i >= 4 else "---" for i in range(len(head))) + " |",
    ]
    rows = sorted(results, key=lambda r: (ORDER.index(r.workload) if r.workload in ORDER else 99,
                                          r.value_bytes, r.system != "logd"))  # fmt: skip
    for r in rows:
        ratios = []
        for m in modes:
            if r.system == "logd" and r.durability == m:
                ratios.append("1")
            else:
                x = ratio(_logd(results, m, r.workload, r.value_bytes), r)
                ratios.append(_num(x, ".2f"))
        cells = [r.workload, f"{r.value_bytes} B", r.system, r.durability,
                 _num(r.msgs_s, ",.0f"), _num(r.mb_s, ",.1f"), _num(r.p50_ms, ".2f"),
                 _num(r.p99_ms, ".2f"), _num(r.p999_ms, ".2f"), *ratios, r.note]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: Sequence[Result]) -> str:
    """Issue 8's targets (100 B values, one node, acks=all) against this run (issue 22's:
    :func:`bench.issue22.targets22`)."""
    all_ = "1 node, acks=all, fsync always"
    rf3 = "3 nodes RF=3, acks=all, fsync always"

    def msgs(r: Result | None) -> float | None:
        return None if r is None else r.msgs_s

    batch = msgs(find_result(results, "logd", "produce-batch", 100, all_))
    rabbit = msgs(find_result(results, "rabbitmq-streams", "produce-batch", 100))
    redis = msgs(find_result(results, "redis-streams", "produce-batch", 100))
    pipe = msgs(find_result(results, "redis-cli --pipe", "cli-produce", 100))
    cli = msgs(find_result(results, "logd", "cli-produce", 100, all_))
    lat1 = find_result(results, "logd", "e2e-latency", 100, all_)
    lat3 = find_result(results, "logd", "e2e-latency", 100, rf3)
    rows: list[tuple[str, float | None, float | None, str]] = [
        ("produce_batch() msgs/s", batch, 1_500_000, ">="),
        ("produce_batch() ÷ RabbitMQ Streams", _div(batch, rabbit), 3.0, ">="),
        ("produce_batch() ÷ Redis Streams", _div(batch, redis), 5.0, ">="),
        ("produce() msgs/s", msgs(find_result(results, "logd", "produce-record", 100, all_)),
         1_000_000, ">="),
        ("replay msgs/s", msgs(find_result(results, "logd", "replay", 100, all_)), 1_500_000, ">="),
        ("logd produce < file lines/s", cli, 500_000, ">="),
        ("logd produce ÷ redis-cli --pipe",
         _div(cli, pipe), 0.7, ">="),
        ("1 MiB batches ÷ ceiling", mib_ratio(results)[0], 0.7, ">="),
        ("e2e p99 ms, RF=1", lat1.p99_ms if lat1 else None, 5.0, "<="),
        ("e2e p99 ms, RF=3", lat3.p99_ms if lat3 else None, 15.0, "<="),
    ]  # fmt: skip
    lines = ["| target (issue 8) | this run | goal | |", "| --- | ---: | ---: | --- |"]
    for name, got, goal, op in rows:
        if got is None:
            verdict = "not measured"
        else:
            verdict = "met" if (got >= goal if op == ">=" else got <= goal) else "**missed**"
        fmt = ",.2f" if goal < 100 else ",.0f"
        lines.append(f"| {name} | {_num(got, fmt)} | {op} {goal:{fmt}} | {verdict} |")
    return "\n".join(lines)


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def write_json(path: Path, results: Sequence[Result], meta: dict[str, Any]) -> None:
    report = {
        "benchmark": "suite",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **meta,
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(report, indent=1) + "\n")


def write_chart(path: Path, results: Sequence[Result]) -> bool:
    """Throughput bars (100 B produce and replay) and latency CDFs; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(15, 6))
    labels: list[str] = []
    produce: list[float] = []
    replay: list[float] = []
    for r in results:
        if r.workload == "produce-batch" and r.value_bytes == 100 and r.system != "ceiling":
            labels.append(f"{r.system}\n{MODES.get(r.durability, '')}".strip())
            produce.append((r.msgs_s or 0) / 1e6)
            back = find_result(results, r.system, "replay", 100, r.durability)
            replay.append((back.msgs_s or 0) / 1e6 if back else 0.0)
    xs = range(len(labels))
    bars.bar([x - 0.2 for x in xs], produce, 0.4, label="produce (batch API)")
    bars.bar([x + 0.2 for x in xs], replay, 0.4, label="replay")
    bars.set_xticks(list(xs), labels, fontsize=8)
    bars.set_ylabel("million msgs/s (100 B values)")
    bars.set_title("Throughput, one Python client, loopback")
    bars.legend()
    for r in results:
        if r.workload == "e2e-latency" and r.cdf_ms:
            n = len(r.cdf_ms)
            label = f"{r.system} {MODES.get(r.durability, '')}".strip()
            cdf.plot(r.cdf_ms, [(i + 1) / n for i in range(n)], label=label)
    cdf.set_xscale("log")
    cdf.set_xlabel("end-to-end latency, ms (log scale)")
    cdf.set_ylabel("fraction of messages")
    cdf.set_title("Latency CDF at a fixed rate, 100 B values")
    cdf.grid(True, which="both", alpha=0.3)
    if cdf.get_legend_handles_labels()[0]:
        cdf.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
