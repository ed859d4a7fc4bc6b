"""Where each millisecond of a record's way goes: a stage-by-stage trace (issue 22).

    python -m bench.latency_trace [--rf 1,3] [--seconds S] [--rate R] [--fsync always]
                                  [--async-writes off|on|both] [--pairs N]

The e2e-latency workload of the suite (``bench.logd_suite.e2e_latency``: ``produce()`` at
a fixed rate in 1 ms ticks, linger 0, acks=all, 8 partitions, a consumer thread of the same
process) against brokers started as ``python -m bench.traced_node`` and a client with
:mod:`bench.latency_probes` installed. Every probe stamps CLOCK_MONOTONIC, one clock for
every process here, so a record's stages join across the client and the brokers by
(partition, offset). For each record:

    producer call   produce() (the stamp the value carries)
    taken           the sender took its batch out of the accumulator (the batch closed)
    to gRPC         the produce stream's gRPC write of it was called (it returns later
                    than the broker has the request: its completion comes back through
                    gRPC's poller thread)
    broker recv     the broker's produce stream handed the request to the core
    proposed        Partition.append returned (stamped, proposed to its Raft group)
    written         the Raft pass wrote it to the leader's log (page cache)
    (RF=3) follower recv / written / fsynced, ack at leader: the follower whose
                    acknowledgement reached the leader first (with the leader, a quorum)
    flush began     (RF=1) the Flusher thread began the leader's flush covering it (it
                    took the log and the GIL: the loop -> Flusher hand-off ends here)
    fsynced         (RF=1) that flush (the log's lock, fdatasync, publish) returned
    committed       Partition.commit: the high watermark rose past it
    fetch read      a waiting fetch, woken, read it (or a fetch that arrived later did)
    answer out      the answer holding it went to gRPC (FetchStream's write called)
    consumer got    the client's fetcher took that answer
    handed over     consume() returned it to the application

The table gives each stage's step from the one before (p50, p99: these do not add up)
and its time since the producer call (p50, p99); the records of the first half second are
left out (warm-up). The probes cost ~1 us each, so the traced end-to-end figure is a little
above the suite's. ``--async-writes`` sets the brokers' ``raft.async.writes`` (several
Readys in flight per Raft group); ``both`` runs off then on, ``--pairs`` times, in one
run, and ends with the on/off ratios of e2e p50 and p99 (the A/B of issue 22).
Output: the table, and ``bench/results/latency-trace-<UTC>.json``.
A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cluster import topic_in_sync
from bench.harness import percentiles
from bench.latency_probes import EVENTS, install_client
from bench.logd_suite import PARTITIONS, LogdCluster, e2e_latency

__all__ = [
    "STAGES_RF1",
    "STAGES_RF3",
    "Broker",
    "ab_summary",
    "ack_split",
    "flush_split",
    "join",
    "load_brokers",
    "load_events",
    "main",
    "markdown",
    "quorum_stages",
    "report",
    "table",
    "trace",
    "wake_split",
]

RESULTS = Path(__file__).with_name("results")
STAGES_RF1 = ("taken", "to gRPC", "broker recv", "proposed", "written", "flush began",
              "fsynced", "committed", "fetch read", "answer out", "consumer got",
              "handed over")  # fmt: skip
STAGES_RF3 = ("taken", "to gRPC", "broker recv", "proposed", "written",
              "follower recv", "follower written", "follower fsynced", "ack at leader",
              "committed", "fetch read", "answer out", "consumer got", "handed over")  # fmt: skip
WARM_UP_NS = 500_000_000


class Spans:
    """Offset ranges ``[first, next)`` per partition name, each with its event."""

    def __init__(self) -> None:
        self._by: dict[str, list[tuple[int, int, Any]]] = defaultdict(list)
        self._firsts: dict[str, list[int]] = {}

    def add(self, name: str, first: int, nxt: int, event: Any) -> None:
        self._by[name].append((first, nxt, event))

    def find(self, name: str, offset: int) -> Any:
        """The earliest event of a span holding ``offset`` (None: none)."""
        spans = self._by.get(name)
        if not spans:
            return None
        if name not in self._firsts:
            spans.sort(key=lambda s: s[0])
            self._firsts[name] = [s[0] for s in spans]
        i = bisect.bisect_right(self._firsts[name], offset) - 1
        best = None
        for j in range(i, max(i - 8, -1), -1):  # spans overlap only a little (a re-read)
            if offset < spans[j][1] and (best is None or spans[j][2] < best):
                best = spans[j][2]
        return best


class Reach:
    """Per partition name, when an offset was first covered: ``(t, end)`` events, the
    time the largest ``end`` so far first passed the offset."""

    def __init__(self) -> None:
        self._by: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._ready: dict[str, tuple[list[int], list[int]]] = {}

    def add(self, name: str, end: int, t: int) -> None:
        self._by[name].append((t, end))

    def first_past(self, name: str, offset: int) -> int | None:
        if name not in self._ready:
            events = sorted(self._by.get(name, ()))
            ends, times, top = [], [], -1
            for t, end in events:
                if end > top:
                    top = end
                    ends.append(end)
                    times.append(t)
            self._ready[name] = (ends, times)
        ends, times = self._ready[name]
        i = bisect.bisect_right(ends, offset)
        return times[i] if i < len(times) else None


class Broker:
    """One broker's events, indexed for the join."""

    def __init__(self, node: int, events: Iterable[Sequence[Any]]) -> None:
        self.node = node
        self.proposed, self.written, self.frecv, self.reads = Spans(), Spans(), Spans(), Spans()
        self.fsynced, self.committed = Reach(), Reach()
        #: When each flush began, by the offset it made durable (flushes of one log run one
        #: at a time, so the first to cover an offset began first too).
        self.flushing = Reach()
        #: Each flush: (ns from its start to its end, ns inside its fsync calls).
        self.flushes: list[tuple[int, int]] = []
        self.acks: dict[int, Reach] = defaultdict(Reach)
        self.answered: dict[int, list[int]] = defaultdict(list)
        for kind, *f in events:
            if kind == "append":
                self.proposed.add(f"{f[0]}-{f[1]}", f[2], f[3] + 1, (f[4], f[5]))
            elif kind == "written":
                self.written.add(f[0], f[1], f[2], f[3])
            elif kind == "fsynced":
                self.fsynced.add(f[0], f[1], f[2])
                if len(f) > 3:
                    self.flushing.add(f[0], f[1], f[3])
                if len(f) > 4:
                    self.flushes.append((f[2] - f[3], f[4]))
            elif kind == "commit":
                self.committed.add(f"{f[0]}-{f[1]}", f[2], f[3])
            elif kind == "frecv":
                self.frecv.add(f[0], f[1], f[2], f[3])
            elif kind == "ack":
                self.acks[f[1]].add(f[0], f[2], f[3])
            elif kind == "read":
                self.reads.add(f"{f[0]}-{f[1]}", f[2], f[3], (f[6], f[5], f[4]))
            elif kind == "answered":
                self.answered[f[0]].append(f[1])

    def answer_after(self, task: int, t: int) -> int | None:
        times = self.answered.get(task, [])
        i = bisect.bisect_left(times, t)
        return times[i] if i < len(times) else None


def _client_index(events: Iterable[Sequence[Any]]) -> tuple[Spans, dict[Any, int], Spans]:
    batches, wires, got = Spans(), {}, Spans()
    for kind, *f in events:
        if kind == "acked":  # topic, partition, base, count, cid, taken, t
            batches.add(f"{f[0]}-{f[1]}", f[2], f[2] + f[3], (f[5], f[4]))
        elif kind == "wire":  # topic, partition, cid, start, end
            wires.setdefault((f"{f[0]}-{f[1]}", f[2]), f[3])
        elif kind == "got":  # topic, partition, first, next, t
            got.add(f"{f[0]}-{f[1]}", f[2], f[3], f[4])
    return batches, wires, got


def join(
    topic: str,
    seen: Sequence[tuple[int, int, int, int]],
    client: Iterable[Sequence[Any]],
    brokers: Sequence[Broker],
    warm_up_ns: int = WARM_UP_NS,
) -> tuple[list[list[int]], int]:
    """Each record's stage times (ns; STAGES_RF1 or STAGES_RF3 after the producer call),
    and how many records could not be joined; records sent in the first ``warm_up_ns``
    are left out."""
    batches, wires, got = _client_index(client)
    rf3 = len(brokers) > 1
    rows, missing = [], 0
    start = min((s[2] for s in seen), default=0) + warm_up_ns
    for partition, offset, sent, handed in seen:
        if sent < start:
            continue
        name = f"{topic}-{partition}"
        row = _row(name, offset, sent, handed, batches, wires, got, brokers, rf3)
        if row is None:
            missing += 1
        else:
            rows.append(row)
    return rows, missing


def _row(
    name: str, offset: int, sent: int, handed: int, batches: Spans, wires: dict[Any, int],
    got: Spans, brokers: Sequence[Broker], rf3: bool,
) -> list[int] | None:  # fmt: skip
    batch = batches.find(name, offset)
    leader = next((b for b in brokers if b.proposed.find(name, offset) is not None), None)
    if batch is None or leader is None:
        return None
    taken, cid = batch
    recv, proposed = leader.proposed.find(name, offset)
    times = [sent, taken, wires.get((name, cid)), recv, proposed, leader.written.find(name, offset)]
    if rf3:
        times += quorum_stages(name, offset, leader, brokers)
    else:
        times += [leader.flushing.first_past(name, offset), leader.fsynced.first_past(name, offset)]
    times.append(leader.committed.first_past(name, offset))
    read = leader.reads.find(name, offset)
    if read is None:
        return None
    times += [read[0], leader.answer_after(read[1], read[0]), got.find(name, offset), handed]
    if any(t is None for t in times):
        return None
    return times  # type: ignore[return-value]


def quorum_stages(name: str, offset: int, leader: Broker, brokers: Sequence[Broker]) -> list[Any]:
    """The stages at the follower whose acknowledgement of ``offset`` came first."""
    best: list[Any] = [None] * 4
    for b in brokers:
        if b is leader:
            continue
        ack = leader.acks[b.node].first_past(name, offset)
        if ack is not None and (best[3] is None or ack < best[3]):
            best = [b.frecv.find(name, offset), b.written.find(name, offset),
                    b.fsynced.first_past(name, offset), ack]  # fmt: skip
    return best


def wake_split(
    topic: str, seen: Sequence[tuple[int, int, int, int]], brokers: Sequence[Broker]
) -> dict[str, Any]:
    """How records reached a fetch: read by a fetch that waited and was woken, or by one
    that arrived after the commit (none was waiting); the commit -> read p50 of each."""
    woken: list[float] = []
    late: list[float] = []
    for partition, offset, _, _ in seen:
        name = f"{topic}-{partition}"
        for b in brokers:
            read, committed = b.reads.find(name, offset), b.committed.first_past(name, offset)
            if read is not None and committed is not None:
                (woken if read[2] else late).append((read[0] - committed) / 1e6)
                break
    n = len(woken) + len(late) or 1
    return {"woken_share": len(woken) / n,
            "woken_p50": percentiles(sorted(woken), (50,))[0],
            "late_p50": percentiles(sorted(late), (50,))[0]}  # fmt: skip


def ack_split(client: Iterable[Sequence[Any]], brokers: Sequence[Broker]) -> dict[str, Any]:
    """Each produce answer: from the commit of its batch's last record (at the broker that
    committed it first) to the client's sender taking the answer (ms p50/p99): the broker's
    loop turns between a commit and its answer, gRPC both ways, the client's loop."""
    waits = []
    for kind, *f in client:
        if kind != "acked":  # topic, partition, base, count, cid, taken, t
            continue
        name, last = f"{f[0]}-{f[1]}", f[2] + f[3] - 1
        commits = [t for b in brokers if (t := b.committed.first_past(name, last)) is not None]
        if commits:
            waits.append((f[6] - min(commits)) / 1e6)
    waits.sort()
    return {"count": len(waits), "p50_p99": percentiles(waits, (50, 99))}


def flush_split(brokers: Sequence[Broker]) -> dict[str, Any]:
    """Every flush of the run: p50/p99 of its whole time (ms) and of its fsync calls alone:
    the difference is waiting for the log's lock and, after the fsync, for the GIL."""
    flushes = [f for b in brokers for f in b.flushes]
    whole = sorted(total / 1e6 for total, _ in flushes)
    synced = sorted(inside / 1e6 for _, inside in flushes)
    return {"count": len(flushes), "whole": percentiles(whole, (50, 99)),
            "fsync": percentiles(synced, (50, 99))}  # fmt: skip


def table(rows: Sequence[Sequence[int]], stages: Sequence[str]) -> list[dict[str, Any]]:
    """Per stage: p50/p99 of its step from the one before and of the time since the call."""
    out = []
    for i, stage in enumerate(stages, start=1):
        steps = sorted((r[i] - r[i - 1]) / 1e6 for r in rows)
        since = sorted((r[i] - r[0]) / 1e6 for r in rows)
        s50, s99 = percentiles(steps, (50, 99))
        c50, c99 = percentiles(since, (50, 99))
        out.append({"stage": stage, "step_p50": s50, "step_p99": s99, "p50": c50, "p99": c99})
    return out


def markdown(stages: Sequence[dict[str, Any]]) -> str:
    lines = ["| stage | step p50 ms | step p99 ms | since call p50 ms | since call p99 ms |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for s in stages:
        lines.append(f"| {s['stage']} | {s['step_p50']:.3f} | {s['step_p99']:.3f} | "
                     f"{s['p50']:.3f} | {s['p99']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def trace(
    rf: int, seconds: float, rate: int, fsync: str, *, async_writes: bool = False
) -> dict[str, Any]:
    """One traced run: ``rf`` brokers (RF=``rf``), the e2e workload; the stage table."""
    EVENTS.clear()
    install_client()
    seen: list[tuple[int, int, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="logd-trace-") as tmp:
        root = Path(tmp)
        (root / "trace").mkdir()
        env = {**os.environ, "LOGD_TRACE_DIR": str(root / "trace")}
        config = root / "broker.toml"
        config.write_text(f'"raft.async.writes" = {str(async_writes).lower()}\n')
        extra = ["--config", str(config)]
        with LogdCluster(
            root, rf, fsync, env=env, module="bench.traced_node", extra=extra
        ) as cluster:
            topic = topic_in_sync(cluster, PARTITIONS, rf)
            lat = e2e_latency(cluster.brokers, topic, "all", 100, rate, seconds, seen=seen)
        brokers = load_brokers(root / "trace")
    stages = STAGES_RF3 if rf > 1 else STAGES_RF1
    rows, missing = join(topic, seen, list(EVENTS), brokers)
    lat.sort()
    p50, p99, p999 = percentiles(lat, (50, 99, 99.9))
    return {"rf": rf, "fsync": fsync, "async_writes": async_writes, "rate": rate,
            "seconds": seconds, "records": len(lat),
            "joined": len(rows), "missing": missing, "e2e_p50": p50, "e2e_p99": p99,
            "e2e_p999": p999, "stages": table(rows, stages) if rows else [],
            "reads": wake_split(topic, seen, brokers),
            "acks": ack_split(EVENTS, brokers),
            "flushes": flush_split(brokers)}  # fmt: skip


def load_brokers(trace_dir: Path) -> list[Broker]:
    """The brokers' events (``node<id>.jsonl`` under ``trace_dir``), indexed."""
    return [Broker(int(p.stem[4:]), load_events(p)) for p in trace_dir.glob("*.jsonl")]


def load_events(path: Path) -> list[list[Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f]


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=False)  # fmt: skip
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def report(run: dict[str, Any], rate: int, seconds: float, load: float) -> None:
    """Print one run: its e2e line, its stage table, how its records were read."""
    setting = "on" if run["async_writes"] else "off"
    print(f"\nRF={run['rf']}, fsync {run['fsync']}, async writes {setting}, {rate:,} msgs/s "
          f"for {seconds:g} s (load {load:.1f}): e2e p50 {run['e2e_p50']:.2f} ms, p99 "
          f"{run['e2e_p99']:.2f} ms, p99.9 {run['e2e_p999']:.2f} ms; {run['joined']:,} "
          f"records traced, {run['missing']} not joined\n", flush=True)  # fmt: skip
    if run["stages"]:
        print(markdown(run["stages"]), flush=True)
    flushes = run.get("flushes")
    if flushes and flushes["count"]:
        (w50, w99), (f50, f99) = flushes["whole"], flushes["fsync"]
        print(f"\n{flushes['count']:,} flushes: whole p50 {w50:.3f} / p99 {w99:.3f} ms, of "
              f"which the fsync calls p50 {f50:.3f} / p99 {f99:.3f} ms", flush=True)  # fmt: skip
    acks = run.get("acks")
    if acks and acks["count"]:
        a50, a99 = acks["p50_p99"]
        print(f"\n{acks['count']:,} produce answers: commit -> the client took the answer "
              f"p50 {a50:.3f} / p99 {a99:.3f} ms", flush=True)  # fmt: skip
    reads = run["reads"]
    print(
        f"\nread by a waiting fetch, woken: {reads['woken_share']:.0%} (commit -> read "
        f"p50 {reads['woken_p50'] or 0:.2f} ms); by a fetch that came later: "
        f"{1 - reads['woken_share']:.0%} ({reads['late_p50'] or 0:.2f} ms)",
        flush=True,
    )


def ab_summary(runs: Sequence[dict[str, Any]]) -> str:
    """Each off/on pair of one RF (in the order run): e2e p50 and p99 and on/off ratios."""
    lines = ["async writes A/B (e2e ms, off -> on, ratio on/off):"]
    for off, on in zip(runs[::2], runs[1::2], strict=False):
        if off["async_writes"] or not on["async_writes"] or off["rf"] != on["rf"]:
            continue
        p50, p99 = (on[k] / off[k] if off[k] else float("nan") for k in ("e2e_p50", "e2e_p99"))
        lines.append(f"  RF={off['rf']} p50 {off['e2e_p50']:.2f} -> {on['e2e_p50']:.2f} "
                     f"({p50:.2f}), p99 {off['e2e_p99']:.2f} -> {on['e2e_p99']:.2f} ({p99:.2f}); "
                     f"load {off['load']} / {on['load']}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency_trace",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rf", default="1,3", help="replication factors to trace")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--fsync", default="always")
    parser.add_argument(
        "--async-writes",
        choices=("off", "on", "both"),
        default="off",
        help="the brokers' raft.async.writes; both: off then on (A/B)",
    )
    parser.add_argument("--pairs", type=int, default=1, help="with --async-writes both")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    settings = {"off": [False], "on": [True], "both": [False, True] * max(1, args.pairs)}
    runs = []
    for rf in (int(x) for x in args.rf.split(",") if x.strip()):
        for async_writes in settings[args.async_writes]:
            load = os.getloadavg()[0]
            run = trace(rf, args.seconds, args.rate, args.fsync, async_writes=async_writes)
            run["load"] = round(load, 1)
            runs.append(run)
            report(run, args.rate, args.seconds, load)
    if args.async_writes == "both":
        print("\n" + ab_summary(runs), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"latency-trace-{stamp}.json"
    path.write_text(json.dumps({"utc": stamp, "commit": _commit(), "runs": runs}, indent=1))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
