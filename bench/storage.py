"""Storage engine throughput, each figure beside this machine's ceiling measured in the same run.

Run: ``.venv/bin/python -m bench.storage [--quick] [--dir DIR] [--out DIR]``.

* ``append`` — ``Log.append`` of 1 MiB and 16 KiB batches (header and CRC-32C checked,
  offsets stamped, indexes kept), beside a plain Python loop that ``os.write``s the same
  bytes to one file: fsync ``never`` (page cache only), ``always`` (every append waits for
  its fdatasync through the ``Flusher`` thread, as a broker with ``acks=all`` does; the loop
  fdatasyncs after each write), and ``always x8`` (8 appends in flight share fsyncs: group
  commit; the loop fdatasyncs once per 8 writes).
* ``read`` — ``Log.read`` of the whole log in 1 MiB fetches (Kafka's default partition fetch
  size) beside a loop of 1 MiB ``os.pread``s of the same file.
* ``recovery`` — opening the log after an unclean shutdown with no recovery point, so every
  batch is re-scanned with its CRC and the indexes rebuilt; MB/s of log scanned.
* ``clean`` / ``clean vs copy+fsync`` / ``produce, cleaning [unthrottled]`` — the log cleaner
  (``bench/cleaner.py``): MB/s cleaned beside the read ceiling and beside the least a
  crash-safe rewrite must do (read once, write what the clean kept, fsync), and appends
  to a compacted log while it is cleaned (at 8 MiB/s, and with no I/O limit) beside
  appends to a plain one.

Targets (issue 2): append ≥ 80 % of the ceiling for 1 MiB batches and ≥ 50 % for 16 KiB;
recovery ≥ 500 MB/s.  Each figure is the best of several interleaved rounds (the shared
machine's noise hits both sides alike).  Prints a markdown table and writes JSON to
``bench/results/storage-<UTC timestamp>.json``.  A benchmark, not a test: nothing here
asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.cleaner import bench_cleaner
from logd.clock import SystemClock
from logd.records.header import HEADER_SIZE, LOG_OVERHEAD, MAGIC, parse_header, rewrite_crc
from logd.storage import Flusher, FlushPolicy, Log, LogConfig
from logd.storage.recovery_point import RECOVERY_POINT_CHECKPOINT

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
MIB = 1 << 20
_HEADER = struct.Struct(">qiibIhiqqqhii")


@dataclass
class Row:
    workload: str
    batch: str
    fsync: str
    logd_mb_s: float
    ceiling_mb_s: float | None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.logd_mb_s / self.ceiling_mb_s if self.ceiling_mb_s else None


def make_batch(size: int, records: int) -> bytearray:
    """A valid batch of ``size`` bytes with incompressible filler as its records."""
    buf = bytearray(HEADER_SIZE) + bytearray(os.urandom(size - HEADER_SIZE))
    now = int(time.time() * 1000)
    fields = (0, size - LOG_OVERHEAD, -1, MAGIC, 0, 0, records - 1, now, now, -1, -1, -1, records)
    _HEADER.pack_into(buf, 0, *fields)
    rewrite_crc(buf)
    return buf


def _ceiling(path: Path, batch: bytearray, count: int, group: int | None) -> float:
    """Seconds for the plain loop: write ``count`` batches, fdatasync every ``group``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    try:
        start = time.perf_counter()
        for index in range(count):
            os.write(fd, batch)
            if group is not None and (index + 1) % group == 0:
                os.fdatasync(fd)
        return time.perf_counter() - start
    finally:
        os.close(fd)


def _logd(directory: Path, batch: bytearray, count: int, group: int | None) -> float:
    """Seconds for ``Log.append`` of ``count`` batches; with ``group``, through the Flusher."""
    log = Log.open(directory, LogConfig(), SystemClock())
    flusher = Flusher(FlushPolicy.ALWAYS) if group is not None else None
    try:
        start = time.perf_counter()
        if flusher is None:
            for _ in range(count):
                log.append(batch, 1)
        else:
            assert group is not None
            waiting: list[Future[int]] = []
            for index in range(count):
                log.append(batch, 1)
                waiting.append(flusher.request(log))
                if (index + 1) % group == 0:
                    for future in waiting:
                        future.result()
                    waiting.clear()
        elapsed = time.perf_counter() - start
    finally:
        if flusher is not None:
            flusher.stop()
        log.close()
    return elapsed


def _best_pair(
    work: Path, rounds: int, ours: Callable[[Path], float], theirs: Callable[[Path], float]
) -> tuple[float, float]:
    """Best seconds of each side over interleaved rounds, on fresh files each time."""
    best_ours = best_theirs = float("inf")
    for _ in range(rounds):
        for side in ("theirs", "ours"):
            target = work / side
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            # Start each side with no dirty pages, so neither pays for the other's writeback.
            os.sync()
            if side == "ours":
                best_ours = min(best_ours, ours(target / "bench-0"))
            else:
                best_theirs = min(best_theirs, theirs(target / "plain.log"))
            shutil.rmtree(target)
    return best_ours, best_theirs


def bench_append(work: Path, size: int, count: int, group: int | None, rounds: int) -> Row:
    batch = make_batch(size, max(1, size // 1024))
    ours, theirs = _best_pair(
        work,
        rounds,
        lambda d: _logd(d, batch, count, group),
        lambda p: _ceiling(p, batch, count, group),
    )
    total = size * count / 1e6
    fsync = {None: "never", 1: "always"}.get(group, f"always x{group}")
    target = {MIB: "≥ 80 %", 16 * 1024: "≥ 50 %"}.get(size, "") if group in (None, 1) else ""
    return Row("append", _size_name(size), fsync, total / ours, total / theirs, target)


def bench_read_and_recovery(work: Path, size: int, count: int, rounds: int) -> list[Row]:
    batch = make_batch(size, max(1, size // 1024))
    directory = work / "log" / "bench-0"
    shutil.rmtree(work / "log", ignore_errors=True)
    log = Log.open(directory, LogConfig(), SystemClock())
    for _ in range(count):
        log.append(batch, 1)
    log.close()
    total = size * count / 1e6
    segment = directory / f"{0:020d}.log"
    best_read = best_pread = best_recovery = float("inf")
    for _ in range(rounds):
        log = Log.open(directory, LogConfig(), SystemClock(), clean_shutdown=True)
        start = time.perf_counter()
        offset, end = 0, log.log_end_offset
        while offset < end:
            data = log.read(offset, MIB)
            offset = parse_header(data, len(data) - size).next_offset
        best_read = min(best_read, time.perf_counter() - start)
        log.close()
        fd = os.open(segment, os.O_RDONLY)
        start = time.perf_counter()
        position = 0
        while chunk := os.pread(fd, MIB, position):
            position += len(chunk)
        best_pread = min(best_pread, time.perf_counter() - start)
        os.close(fd)
        (directory / RECOVERY_POINT_CHECKPOINT).unlink()
        start = time.perf_counter()
        log = Log.open(directory, LogConfig(), SystemClock(), clean_shutdown=False)
        best_recovery = min(best_recovery, time.perf_counter() - start)
        assert log.log_end_offset == end and log.truncated_on_open == 0
        log.close()
    shutil.rmtree(work / "log")
    name = _size_name(size)
    return [
        Row("read", name, "-", total / best_read, total / best_pread),
        Row("recovery", name, "-", total / best_recovery, None, "≥ 500 MB/s"),
    ]


def _size_name(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size // 1024} KiB"


def run(work: Path, quick: bool, cleaner_only: bool = False) -> list[Row]:
    """Quick: 64 MiB a page-cache round, 3 rounds; full: 256 MiB, 5 rounds.
    ``cleaner_only``: the cleaner's rows alone (issue 16's short runs)."""
    scale = 1 if quick else 4
    rounds = 3 if quick else 5
    if cleaner_only:
        return _cleaner_rows(work, quick, rounds)
    rows = [
        bench_append(work, MIB, 64 * scale, None, rounds),
        bench_append(work, 16 * 1024, 4096 * scale, None, rounds),
        bench_append(work, MIB, 16 * scale, 1, rounds),
        bench_append(work, 16 * 1024, 256 * scale, 1, rounds),
        bench_append(work, 16 * 1024, 256 * scale, 8, rounds),
    ]
    rows += bench_read_and_recovery(work, MIB, 64 * scale, rounds)
    rows += bench_read_and_recovery(work, 16 * 1024, 4096 * scale, rounds)
    return rows + _cleaner_rows(work, quick, rounds)


def _cleaner_rows(work: Path, quick: bool, rounds: int) -> list[Row]:
    return [
        Row(workload, "16 KiB", "never", ours, reference, target)
        for workload, ours, reference, target in bench_cleaner(work, quick, rounds)
    ]


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | batch | fsync | logd MB/s | ceiling MB/s | logd / ceiling | target |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ceiling = f"{row.ceiling_mb_s:,.0f}" if row.ceiling_mb_s else "-"
        ratio = f"{row.ratio:.0%}" if row.ratio is not None else "-"
        lines.append(
            f"| {row.workload} | {row.batch} | {row.fsync} | {row.logd_mb_s:,.0f} "
            f"| {ceiling} | {ratio} | {row.target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storage", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short run (seconds, not minutes)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--cleaner", action="store_true", help="only the log cleaner's rows")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="logd-bench-", dir=args.dir))
    try:
        rows = run(work, args.quick, args.cleaner)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "storage",
        "utc": stamp,
        "quick": args.quick,
        "cleaner_only": args.cleaner,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "filesystem_dir": str(args.dir or tempfile.gettempdir()),
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    path = args.out / f"storage-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
