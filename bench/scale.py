"""Many partitions on one three-broker ``logd dev`` cluster (issue 21).

    python -m bench.scale [--sizes 1000,3000,10000] [--quick] [--idle-s S] [--dir D]

For each size, on a fresh ``logd dev --nodes 3`` (default settings, as a new user runs it):

* ``baseline`` -- each broker's resident memory and CPU with no topic;
* ``create`` -- one topic of N partitions at replication factor 3: seconds from the
  request until every partition has a leader, and until every replica is in sync;
* ``quiet`` -- seconds from the request until every broker logs that only one Raft group
  (the controller's) is awake: elections, catching up and the leadership rebalancing that
  follows them are over;
* ``idle`` -- CPU per broker (share of one core, from /proc over ``--idle-s`` seconds)
  once the cluster is quiet, resident memory per broker, and per partition replica
  (growth over the baseline / the N replicas each broker holds);
* ``failover`` -- one broker (not the controller) is SIGKILLed: seconds until every
  partition has a leader again, as a client sees it (``describe_topics`` on a survivor);
* ``produce`` -- records to every partition at once (acks=all, 100-byte values) through
  the two survivors: msgs/s.

The machine is shared: the 1-minute load average is printed beside each phase, and the
table compares the figures at the largest size with the issue's targets (idle <= 5 % of
a core per broker, creation <= 60 s, leaders back <= 5 s) as ratios. With ``py-spy``
installed, a missed target comes with a profile of the slowest broker (the top frames,
written beside the JSON). A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from logd.broker.listeners import LISTENERS
from logd.client import Admin, NewTopic, Producer
from tests.helpers import free_ports

__all__ = ["main"]

RESULTS = Path(__file__).with_name("results")
FULL_SIZES = (1000, 3000, 10_000)
QUICK_SIZES = (300, 1000)
TARGETS = {"idle_cpu_pct": 5.0, "create_s": 60.0, "leaders_back_s": 5.0}
_HZ = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    """The figures of one size."""

    partitions: int
    load: dict[str, float] = field(default_factory=dict)
    baseline_rss_mib: float = 0.0
    baseline_cpu_pct: float = 0.0
    create_led_s: float | None = None
    create_in_sync_s: float | None = None
    quiet_s: float | None = None
    #: Every partition led by its preferred replica (the controller's rebalancing done) and
    #: every group quiet again: the steady state the idle window measures.
    balanced_s: float | None = None
    idle_cpu_pct: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    kib_per_replica: float | None = None
    leaders_back_s: float | None = None
    produce_msgs_s: float | None = None
    notes: list[str] = field(default_factory=list)


# -- processes --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _HZ


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_share(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU over ``seconds``, in % of one core."""
    before = [cpu_seconds(p) for p in pids]
    start = time.monotonic()
    time.sleep(seconds)  # a measurement window, not a wait on a condition
    elapsed = time.monotonic() - start
    return [100 * (cpu_seconds(p) - b) / elapsed for p, b in zip(pids, before, strict=True)]


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class DevCluster:
    """``logd dev --nodes 3`` in a child process; its nodes' pids from what it prints."""

    def __init__(self, root: Path, nodes: int = 3) -> None:
        self.root = root
        # Every listener's ports from below the kernel's ephemeral range (tests.helpers):
        # never a default port another cluster on this machine uses, never one an
        # outgoing connection can take (``logd dev`` gives node i each port + i).
        self.base = free_ports(nodes)
        listeners = [a for s in LISTENERS for a in (s.flag, f"127.0.0.1:{free_ports(nodes)}")]
        self.brokers = ",".join(f"127.0.0.1:{self.base + i}" for i in range(nodes))
        self.out = (root / "dev.out").open("wb")
        logd = shutil.which("logd", path=str(Path(sys.executable).parent)) or "logd"
        self.proc = subprocess.Popen(
            [logd, "dev", "--nodes", str(nodes), "--port", str(self.base),
             "--data-dir", str(root / "data"), *listeners],
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.pids = self._pids(nodes, deadline=time.monotonic() + 120)

    def _pids(self, nodes: int, deadline: float) -> list[int]:
        while time.monotonic() < deadline:
            text = (self.root / "dev.out").read_text(errors="replace")
            pids = [int(w.split()[1]) for w in text.split("  ") if w.startswith("pid ")]
            if len(pids) == nodes and "press Ctrl-C" in text:
                return pids
            if self.proc.poll() is not None:
                raise RuntimeError(f"logd dev exited: {text[-400:]}")
            time.sleep(0.2)
        raise RuntimeError("logd dev did not start within 120 s")

    def awake(self) -> list[int | None]:
        """Each node's last logged count of awake Raft groups (None: none logged yet)."""
        counts: list[int | None] = []
        for i in range(len(self.pids)):
            path = self.root / "data" / f"node-{i}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            lines = [x for x in text.splitlines() if "raft groups: " in x]
            counts.append(int(lines[-1].split("raft groups: ")[1].split()[0]) if lines else None)
        return counts

    def quiet_after_moves(self) -> bool:
        """Every node's last logged count is 1 awake group, logged after the controller's
        last rebalancing line: a move wakes the group on every replica (RF=3 on 3 brokers),
        and the count is logged again once it settles -- a count read before that is stale."""
        texts = []
        for i in range(len(self.pids)):
            path = self.root / "data" / f"node-{i}.log"
            texts.append(path.read_text(errors="replace").splitlines() if path.exists() else [])
        moves = [x[:23] for lines in texts for x in lines if "rebalancing leadership: " in x]
        last_move = max(moves, default="")
        for lines in texts:
            counts = [x for x in lines if "raft groups: " in x]
            if not counts or counts[-1][:23] <= last_move:
                return False
            if int(counts[-1].split("raft groups: ")[1].split()[0]) != 1:
                return False
        return True

    def kill(self, index: int) -> None:
        os.kill(self.pids[index], signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.pids:  # a node logd dev could not stop (it says so): ours to end
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.out.close()


# -- phases -----------------------------------------------------------------------------


def _until(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.25) -> float | None:
    """Seconds until ``check()`` holds, None if it did not within ``timeout_s``. Looks at
    most every ``poll_s``, and waits at least three times as long as a look took: describing
    10,000 partitions costs the answering broker a good part of a second, and polling it
    back to back measured mostly the bench's own load (issue 21, session 8)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        began = time.monotonic()
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # a broker not answering yet: look again
            pass
        time.sleep(max(poll_s, 3 * (time.monotonic() - began)))
    return None


def _partitions(admin: Admin, topic: str) -> list[tuple[int, list[int], list[int]]]:
    (description,) = admin.describe_topics([topic])
    return [(p.leader, p.replicas, p.isr) for p in description.partitions]


def create(admin: Admin, cluster: DevCluster, row: Row, topic: str, timeout_s: float) -> None:
    """Seconds from the request until every partition is led, fully in sync, quiet."""
    start = time.monotonic()
    admin.create_topics([NewTopic(topic, row.partitions, 3)])
    if _until(lambda: all(p[0] >= 0 for p in _partitions(admin, topic)), timeout_s, 0.5):
        row.create_led_s = time.monotonic() - start
    in_sync = _until(
        lambda: all(set(p[2]) == set(p[1]) for p in _partitions(admin, topic)), timeout_s, 0.5
    )
    if in_sync is not None:
        row.create_in_sync_s = time.monotonic() - start
    # The driver logs its awake groups every 10 s when the count changed.
    if _until(lambda: all(n == 1 for n in cluster.awake()), timeout_s, 1.0) is not None:
        row.quiet_s = time.monotonic() - start
    # Leaders elected while a broker was still hosting move to their preferred replicas a few
    # hundred per rebalancing check (``liveness.MOVES_PER_CHECK``): idle is measured after.
    if (
        _until(
            lambda: (
                all(p[0] == p[1][0] for p in _partitions(admin, topic))
                and cluster.quiet_after_moves()
            ),
            timeout_s,
            2.0,
        )
        is not None
    ):
        row.balanced_s = time.monotonic() - start


def failover(cluster: DevCluster, row: Row, topic: str, args: argparse.Namespace) -> int:
    """Kill a broker that is not the controller; returns its index. ``--profile-failover``:
    the survivors are sampled (py-spy) from just before the kill until leaders are back."""
    with Admin(brokers=cluster.brokers, request_timeout_ms=30_000) as admin:
        controller = admin.describe_cluster().controller_id
    victim = next(i for i in range(len(cluster.pids)) if i != controller)
    survivors = ",".join(b for i, b in enumerate(cluster.brokers.split(",")) if i != victim)
    spies: list[tuple[int, Path, subprocess.Popen[bytes]]] = []
    if args.profile_failover:
        for i, pid in enumerate(cluster.pids):
            if i == victim:
                continue
            out = args.out / f"scale-{row.partitions}-failover-node{i}"
            spy = start_profile(pid, args.profile_failover, out)
            if spy is not None:
                spies.append((i, out, spy))
    with Admin(brokers=survivors, request_timeout_ms=10_000) as admin:
        _partitions(admin, topic)  # connected before the kill
        cluster.kill(victim)
        row.leaders_back_s = _until(
            lambda: all(p[0] >= 0 and p[0] != victim for p in _partitions(admin, topic)),
            args.timeout_s,
        )
    for i, out, spy in spies:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(args.profile_failover + 60)
        top = _top_frames(out.with_suffix(".txt")) if out.with_suffix(".txt").exists() else ""
        if top:
            row.notes.append(f"failover profile, node {i} (kill at 0; inclusive | self):\n{top}")
    return victim


def produce(brokers: str, row: Row, topic: str, per_partition: int) -> None:
    value = b"x" * 100
    with Producer(brokers=brokers, acks="all", linger_ms=5) as producer:
        start = time.monotonic()
        for p in range(row.partitions):
            producer.produce_batch(topic, [value] * per_partition, partition=p)
        left = producer.flush(300)
        elapsed = time.monotonic() - start
    sent = row.partitions * per_partition
    row.produce_msgs_s = (sent - left) / elapsed
    if left:
        row.notes.append(f"{left} of {sent} records undelivered after 300 s")


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` for ``seconds`` (py-spy, raw stacks in ``out``.txt); None without
    py-spy. Sampling does not stop the process (``--nonblocking``)."""
    spy = _py_spy()
    if spy is None:
        return None
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "100",
         "-f", "raw", "-o", str(out.with_suffix(".txt")), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=(out.with_suffix(".err")).open("wb"),
    )  # fmt: skip


def profile(pid: int, seconds: int, out: Path) -> str | None:
    """The top frames of ``pid`` over ``seconds`` (py-spy), or None without py-spy."""
    spy = start_profile(pid, seconds, out)
    if spy is None:
        return None
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(seconds + 60)
    raw = out.with_suffix(".txt")
    return _top_frames(raw) if raw.exists() else None


def _frame(text: str) -> str:
    """``function (path/file.py:line)`` -> ``function file.py`` (lines of one function
    counted together)."""
    name, _, where = text.partition(" (")
    return f"{name} {where.rpartition('/')[2].partition(':')[0]}".strip()


def _top_frames(raw: Path, count: int = 15) -> str:
    """The frames most often on the stack (inclusive) beside those most often on top
    (self), in % of the samples."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = [_frame(f) for f in stack.split(";")]
        for frame in dict.fromkeys(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(n)
        own[frames[-1]] = own.get(frames[-1], 0) + int(n)
    tops = [sorted(d.items(), key=lambda kv: -kv[1])[:count] for d in (inclusive, own)]
    return "\n".join(
        f"{100 * a[1] / max(total, 1):5.1f}%  {a[0][:70]:<70} | "
        f"{100 * b[1] / max(total, 1):5.1f}%  {b[0][:70]}"
        for a, b in zip(*tops, strict=False)
    )


# -- one size -----------------------------------------------------------------------------


def _progress(line: str) -> None:
    """Each phase's figures as soon as they are known: a run cut short keeps them."""
    print(f"  {datetime.now(UTC):%H:%M:%S} {line}", flush=True)


def run_size(root: Path, row: Row, args: argparse.Namespace) -> Row:
    partitions = row.partitions
    cluster = DevCluster(root)
    topic = f"scale-{uuid.uuid4().hex[:6]}"
    try:
        time.sleep(3)  # let the controller settle before the baseline (a window, not a wait)
        row.baseline_cpu_pct = max(cpu_share(cluster.pids, args.idle_s / 2))
        row.baseline_rss_mib = max(rss_mib(p) for p in cluster.pids)
        row.load["baseline"] = load1()
        with Admin(brokers=cluster.brokers, request_timeout_ms=600_000) as admin:
            create(admin, cluster, row, topic, args.timeout_s)
        row.load["create"] = load1()
        _progress(f"created: led {_f(row.create_led_s)} s, in sync {_f(row.create_in_sync_s)} s,"
                  f" quiet {_f(row.quiet_s)} s, balanced {_f(row.balanced_s)} s"
                  f" (load {row.load['create']:.1f})")  # fmt: skip
        row.idle_cpu_pct = cpu_share(cluster.pids, args.idle_s)
        row.rss_mib = [rss_mib(p) for p in cluster.pids]
        grown = sum(row.rss_mib) / len(row.rss_mib) - row.baseline_rss_mib
        row.kib_per_replica = 1024 * grown / partitions  # each broker holds N replicas
        row.load["idle"] = load1()
        cpu = "/".join(f"{c:.1f}" for c in row.idle_cpu_pct)
        rss = "/".join(f"{m:.0f}" for m in row.rss_mib)
        _progress(f"idle: {cpu} % of a core, RSS {rss} MiB (load {row.load['idle']:.1f})")
        if max(row.idle_cpu_pct) > TARGETS["idle_cpu_pct"]:
            slowest = cluster.pids[row.idle_cpu_pct.index(max(row.idle_cpu_pct))]
            top = profile(slowest, 10, args.out / f"scale-{partitions}-idle-profile")
            if top:
                row.notes.append("idle profile (slowest broker):\n" + top)
        victim = failover(cluster, row, topic, args)
        row.load["failover"] = load1()
        _progress(f"failover: leaders back {_f(row.leaders_back_s, '.2f')} s "
                  f"(load {row.load['failover']:.1f})")  # fmt: skip
        survivors = ",".join(b for i, b in enumerate(cluster.brokers.split(",")) if i != victim)
        if args.per_partition:
            produce(survivors, row, topic, args.per_partition)
        row.load["produce"] = load1()
    except Exception as exc:  # a phase that failed is a finding, reported with the rest
        row.notes.append(f"stopped: {type(exc).__name__}: {exc}")
    finally:
        cluster.stop()
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in (root / "data").glob("node-*.log"):
                shutil.copy(log, args.keep_logs / f"scale-{partitions}-{log.name}")
    return row


# -- the report ---------------------------------------------------------------------------


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def table(rows: list[Row]) -> str:
    lines = [
        "| partitions (RF=3) | create: led s | in sync s | quiet s | balanced s | "
        "idle CPU %/broker | RSS MiB/broker | KiB/replica | leaders back s | produce msgs/s | "
        "load (create/idle) |",
        "|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        cpu = "/".join(_f(c) for c in r.idle_cpu_pct) or "-"
        rss = "/".join(_f(m, ".0f") for m in r.rss_mib) or "-"
        load = f"{_f(r.load.get('create'))}/{_f(r.load.get('idle'))}"
        lines.append(
            f"| {r.partitions} | {_f(r.create_led_s)} | {_f(r.create_in_sync_s)} | "
            f"{_f(r.quiet_s)} | {_f(r.balanced_s)} | {cpu} | "
            f"{rss} | {_f(r.kib_per_replica, '.0f')} | {_f(r.leaders_back_s, '.2f')} | "
            f"{_f(r.produce_msgs_s, '.0f')} | {load} |"
        )
    return "\n".join(lines)


def against_targets(row: Row) -> str:
    """The largest size against the issue's targets: figure / target (<= 1 meets it)."""
    figures = {
        "idle_cpu_pct": max(row.idle_cpu_pct) if row.idle_cpu_pct else None,
        "create_s": row.create_led_s,
        "leaders_back_s": row.leaders_back_s,
    }
    parts = []
    for name, target in TARGETS.items():
        value = figures[name]
        ratio = "-" if value is None else f"{value / target:.2f}x"
        verdict = "-" if value is None else ("meets" if value <= target else "MISSES")
        parts.append(f"{name}: {_f(value, '.2f')} vs {target} ({ratio} of target, {verdict})")
    return f"targets at {row.partitions} partitions: " + "; ".join(parts)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", help="partition counts (default 1000,3000,10000)")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument("--idle-s", type=float, default=10.0, help="idle CPU window")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="per phase")
    parser.add_argument("--per-partition", type=int, default=20, help="records to each (0: none)")
    parser.add_argument("--dir", type=Path, help="data root (default: a temporary dir)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="copy the node logs here")
    parser.add_argument(
        "--profile-failover", type=float, default=0.0, metavar="S",
        help="sample the brokers with py-spy for S seconds from just before the kill",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.sizes:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    # ``timeout`` ends a run with SIGTERM: unwind, so that every size's ``finally`` stops
    # its ``logd dev`` (it outlived the bench before, brokers and all).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    code = 0
    with tempfile.TemporaryDirectory(prefix="logd-scale-", dir=args.dir) as tmp:
        for size in args.sizes:
            root = Path(tmp) / f"n{size}"
            root.mkdir()
            print(f"scale: {size} partitions at RF=3 (load {load1():.1f}) ...", flush=True)
            rows.append(Row(size))
            try:
                run_size(root, rows[-1], args)
            except SystemExit as exc:  # cut short (SIGTERM): report what was measured
                rows[-1].notes.append(f"stopped: SIGTERM (load {load1():.1f})")
                code = int(exc.code or 1)
                break
            print(table(rows[-1:]), flush=True)
        # Before the data goes: deleting 30,000 log directories takes minutes on a busy
        # disk, and a ``timeout -k`` then killed the run before it wrote anything.
        _report(rows, args)
    return code


def _report(rows: list[Row], args: argparse.Namespace) -> None:
    """Print the table and the targets; write the results file."""
    print()
    print(f"logd scale benchmark, {os.cpu_count()} cores, shared machine (load beside):")
    print(table(rows))
    print(against_targets(rows[-1]))
    for row in rows:
        for note in row.notes:
            print(f"\n{row.partitions} partitions: {note}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"scale-{stamp}.json"
    path.write_text(json.dumps({"cores": os.cpu_count(), "targets": TARGETS,
                                "rows": [asdict(r) for r in rows]}, indent=1))  # fmt: skip
    print(f"\nwritten: {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
