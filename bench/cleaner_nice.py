"""The cleaner thread's nice value, A/B in one run (issue 16): appends to a compacted log
while the cleaner cleans it, at each nice value given, beside appends to a plain log.

Run: ``flock /work/bench.lock timeout 300 .venv/bin/python -m bench.cleaner_nice
[--limit MIB_PER_S] [--rounds N] [--nices 0,10,19]`` (~1 min on 2 cores at load 5-10).

Each round fills a fresh log per side with ``bench.cleaner``'s batches (~32 MB, 2,000 keys),
starts a ``LogCleaner`` (backoff 10 ms, ``CleanerConfig.nice`` = the side's value, no I/O
limit unless ``--limit``) on the compacted ones, and times appending the batches three times
over; the sides' order rotates every round.  Prints, per side, the median and best MB/s as
a ratio to the plain log's, and the cleaner thread's run time during the appends (Linux
``/proc/self/task/<tid>/schedstat``): niceness matters only when the cores are contended,
so the cleaner's CPU column says whether it yielded.  A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.cleaner import COMPACT, MIB, PLAIN, _append_all, _fill, keyed_batches
from logd.storage.cleaner import CleanerConfig, LogCleaner
from logd.storage.throttle import UNLIMITED

__all__ = ["main", "run"]

_REPEAT = 3


def _run_time_s(tid: int) -> float:
    with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[0]) / 1e9


def _round(
    work: Path, batches: list[bytearray], nice: int | None, limit: float
) -> tuple[float, float]:
    """(seconds appending, cleaner run time meanwhile) for one side; ``nice`` None: plain."""
    directory = work / f"side{nice}-0"
    log = _fill(directory, PLAIN if nice is None else COMPACT, batches)
    cleaner = None
    cpu = 0.0
    if nice is not None:
        config = CleanerConfig(backoff_ms=10, io_max_bytes_per_second=limit, nice=nice)
        cleaner = LogCleaner(lambda: [log], config)
        cleaner.start()
        while cleaner.thread_id is None:
            time.sleep(0.001)
        tid = cleaner.thread_id
        cpu = -_run_time_s(tid)
    try:
        seconds = sum(_append_all(log, batches) for _ in range(_REPEAT))
    finally:
        if cleaner is not None:
            cpu += _run_time_s(tid)
            cleaner.stop()
    log.close()
    shutil.rmtree(directory)
    return seconds, cpu


def run(work: Path, nices: list[int], rounds: int, limit: float) -> str:
    """The report (see the module doc)."""
    batches = keyed_batches(2000)
    total = _REPEAT * sum(len(b) for b in batches) / 1e6
    sides: list[int | None] = [None, *nices]
    speeds: dict[int | None, list[float]] = {side: [] for side in sides}
    cpus: dict[int | None, list[float]] = {side: [] for side in sides}
    load = os.getloadavg()[0]
    for r in range(rounds):
        for side in sides[r % len(sides) :] + sides[: r % len(sides)]:
            seconds, cpu = _round(work, batches, side, limit)
            speeds[side].append(total / seconds)
            cpus[side].append(cpu)
    plain_median, plain_best = statistics.median(speeds[None]), max(speeds[None])
    limit_text = "none" if limit == UNLIMITED else f"{limit / MIB:g} MiB/s"
    lines = [
        f"load {load:.1f} -> {os.getloadavg()[0]:.1f}, I/O limit {limit_text}, "
        f"{total:.0f} MB a round, {rounds} rounds",
        "| side | median MB/s | / plain | best MB/s | / plain | cleaner run time, median |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side in sides:
        median, best = statistics.median(speeds[side]), max(speeds[side])
        name = "plain" if side is None else f"nice {side}"
        run_time = "-" if side is None else f"{statistics.median(cpus[side]) * 1000:.0f} ms"
        lines.append(
            f"| {name} | {median:.0f} | {median / plain_median:.0%} | {best:.0f} "
            f"| {best / plain_best:.0%} | {run_time} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cleaner_nice", description=__doc__)
    parser.add_argument("--limit", type=float, default=None, help="cleaner I/O limit, MiB/s")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--nices", default="0,10,19", help="comma-separated nice values")
    args = parser.parse_args(argv)
    limit = UNLIMITED if args.limit is None else args.limit * MIB
    work = Path(tempfile.mkdtemp(prefix="logd-bench-nice-"))
    try:
        print(run(work, [int(n) for n in args.nices.split(",")], args.rounds, limit))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
