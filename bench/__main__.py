"""The benchmark suite (issue 8): logd beside its peers, in one run, on this machine.

Run: ``make bench`` (or ``make bench QUICK=1``), i.e. ``python -m bench [--quick]
[--only logd,rabbitmq,nats,redis,ceiling,mqtt]
[--modes acks=all,acks=1,rf3,interval,rf3-interval] [--dir DIR] [--out DIR]``.

Order: logd in each mode (one node acks=all and acks=1, fsync always; three nodes RF=3
acks=all, skipped with one line while the broker cannot create a topic with three
replicas; one node with ``--fsync interval``, the e2e latency row only, beside the peers'
timed fsyncs), then RabbitMQ Streams, NATS JetStream, Redis Streams (and ``redis-cli --pipe``)
and the plain-write ceiling; then MQTT, logd's listener beside Mosquitto
(``bench.mqtt_suite``, its own table). Every server runs on loopback with its data under one
temporary directory, and is stopped when its part ends; a peer that cannot be installed or
started is skipped with one line. At the end: one markdown table with every figure and the
ratios of logd against each row, issue 8's targets, issue 22's targets (bench/issue22.py:
RF=1 p50/p99 beside NATS and Redis, RF=3 p99, the 1 MiB ratio against the ceiling measured
around logd's row) and logd's throughput rows beside the newest earlier result file
(``--baseline``), the load average, JSON and a PNG chart under ``bench/results/`` (see
bench/README.md for what each workload measures).

A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import Result, Unavailable
from bench.issue22 import Baseline, load_baseline, newest_baseline, targets22, throughput_beside
from bench.mqtt_suite import table as mqtt_table
from bench.peers import Plan
from bench.report import markdown, targets, write_chart, write_json

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
PEERS = {
    "rabbitmq": "bench.peers.rabbitmq_streams",
    "nats": "bench.peers.nats_jetstream",
    "redis": "bench.peers.redis_streams",
    "ceiling": "bench.peers.ceiling",
    # The Kafka listener beside the gRPC path and Tansu (issue 14; bench/kafka_suite.py).
    "kafka": "bench.kafka_suite",
}
MODES = ("acks=all", "acks=1", "rf3", "interval", "rf3-interval")

FULL = Plan(sizes=(100, 1024), n=2_000_000, latency_s=20.0, rate=10_000, cli_lines=1_000_000,
            ceiling_s=5.0)  # fmt: skip
QUICK = Plan(sizes=(100, 1024), n=300_000, latency_s=5.0, rate=10_000, cli_lines=300_000,
             ceiling_s=2.0)  # fmt: skip
#: Peers produce fewer records than logd in a full run: the slowest (JetStream, ~50k msgs/s
#: here) would otherwise take minutes per workload for no better a figure.
PEER_N_FULL = 500_000


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes: fewer records")
    parser.add_argument(
        "--only", default="logd," + ",".join(PEERS) + ",mqtt", help="systems to run (default: all)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="logd modes to run")
    parser.add_argument("--dir", type=Path, default=None, help="where data goes (default: tmp)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline", default="", help="an earlier suite-*.json for the throughput rows "
        "(default: the newest in bench/results with them; 'none': no comparison)",
    )  # fmt: skip
    return parser.parse_args(argv)  # fmt: skip


def _run_logd(root: Path, plan: Plan, modes: list[str]) -> list[Result]:
    from bench.logd_suite import run_logd

    results: list[Result] = []
    for mode in modes:
        print(f"logd {mode}", flush=True)
        try:
            results += run_logd(
                root, mode=mode, sizes=plan.sizes, n=plan.n, latency_s=plan.latency_s,
                rate=plan.rate, cli_lines=plan.cli_lines, mib_count=100 if plan.n < 10**6 else 300,
                ceiling_s=plan.ceiling_s,
            )  # fmt: skip
        except Unavailable as exc:
            print(f"  skipped logd {mode}: {exc}", flush=True)
    return results


def _run_mqtt(root: Path, quick: bool) -> dict[str, dict[str, object]]:
    """MQTT beside Mosquitto (``bench.mqtt_suite``): its own table, its own workloads."""
    from bench.mqtt_suite import run_mqtt

    mqtt_root = root / "mqtt"
    mqtt_root.mkdir()
    try:
        return run_mqtt(mqtt_root, quick)
    except Exception as exc:  # its failure must not cost the rest of the run
        print(f"  skipped mqtt: it failed: {type(exc).__name__}: {exc}", flush=True)
        return {}


def _run_peer(name: str, root: Path, plan: Plan) -> list[Result]:
    print(name, flush=True)
    peer_root = root / name
    peer_root.mkdir()
    try:
        results: list[Result] = importlib.import_module(PEERS[name]).run(peer_root, plan)
    except Unavailable as exc:
        print(f"  skipped {name}: {exc}", flush=True)
        return []
    except Exception as exc:  # a peer's own failure must not cost the rest of the run
        print(f"  skipped {name}: it failed: {type(exc).__name__}: {exc}", flush=True)
        return []
    for r in results:
        figure = (f"p99 {r.p99_ms:.2f} ms" if r.p99_ms is not None
                  else f"{r.msgs_s or 0:,.0f} msgs/s")  # fmt: skip
        print(f"  {r.workload:<15} {r.value_bytes:>5} B  {r.system}: {figure}", flush=True)
    return results


def _baseline(arg: str) -> Baseline | None:
    """The earlier run the throughput rows are read beside (read before this run's file is
    written, so never itself)."""
    if arg == "none":
        return None
    return load_baseline(Path(arg)) if arg else newest_baseline(RESULTS)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    plan = QUICK if args.quick else FULL
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip() in MODES]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    load_before = _load()
    baseline = _baseline(args.baseline)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="logd-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        if "logd" in only:
            results += _run_logd(root, plan, modes)
        peer_plan = plan if args.quick else Plan(**{**plan.__dict__, "n": PEER_N_FULL})
        for name in PEERS:
            if name in only:
                results += _run_peer(name, root, peer_plan)
        mqtt = _run_mqtt(root, args.quick) if "mqtt" in only else {}
    print()
    print(markdown(results))
    print()
    print(targets(results))
    print()
    print(targets22(results))
    print()
    print(throughput_beside(results, baseline))
    print(f"\nload average (1/5/15 min): {load_before} at the start, {_load()} at the end")
    if mqtt:
        print()
        print(mqtt_table(mqtt))
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"suite-{stamp}.json"
    meta = {"utc": stamp, "quick": args.quick, "plan": plan.__dict__,
            "seconds": round(time.monotonic() - started, 1),
            "load": f"{load_before} -> {_load()}",
            "baseline": baseline.name if baseline else None}  # fmt: skip
    write_json(json_path, results, {**meta, "mqtt": mqtt})
    print(f"\nwrote {json_path}")
    png = args.out / f"suite-{stamp}.png"
    if write_chart(png, results):
        print(f"wrote {png}")
    else:
        print("no chart: matplotlib is not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
