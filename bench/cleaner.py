"""The log cleaner's rows of ``bench.storage`` (issue 16), each beside a figure of the same run.

* ``clean`` — ``clean_log`` of a compacted log of keyed 16 KiB batches (1 KiB values over
  2,000 keys, so most records are superseded): MB/s of log cleaned, beside the read ceiling
  of this run (``os.pread`` of the same segment files in 1 MiB reads).  Goal ≥ 50 %.
* ``clean vs copy+fsync`` — the same cleans beside the least a crash-safe rewrite of this
  log must do: read every byte once (as the ceiling), write the bytes the clean kept into
  a new file, fsync it, rename it, fsync the directory.  The clean also reads the log a
  second time (the key map is built first, as Kafka's cleaner does) and writes indexes.
* ``produce, cleaning`` — ``Log.append`` of the same batches (three times over, ~95 MB, so a
  round lasts a few hundred ms rather than the cleaner's start-up) to a compacted log while
  the cleaner thread cleans it (another log's worth of dirty segments first) at
  ``log.cleaner.io.max.bytes.per.second`` = 8 MiB/s, beside appends to a log that is not
  compacted, with no cleaner running, filled the same way first (so both runs start with
  the same page cache: only the cleaner differs).  The sides alternate which goes first.
  Goal ≥ 80 %.
* ``produce, cleaning unthrottled`` — the same with no I/O limit (Kafka's default): the
  clean competes with the appends for the CPU for most of the round.

Both fsync ``never`` (page cache): what is measured is the cleaner's CPU and I/O path.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from pathlib import Path

from logd.clock import SystemClock
from logd.records.builder import BatchBuilder
from logd.storage import Log, LogConfig
from logd.storage.cleaner import CleanerConfig, LogCleaner, clean_log
from logd.storage.throttle import UNLIMITED

__all__ = ["bench_cleaner"]

MIB = 1 << 20
_KEYS = 2000
_VALUE = 1024
_PER_BATCH = 15  # ~16 KiB batches

COMPACT = LogConfig(cleanup_policy="compact", segment_bytes=16 * MIB)
#: ``log.cleaner.io.max.bytes.per.second`` for the first produce row.
IO_LIMIT = 8.0 * MIB
#: How many times a produce round appends the batches.
_REPEAT = 3
PLAIN = LogConfig(segment_bytes=16 * MIB)


def keyed_batches(count: int) -> list[bytearray]:
    value = os.urandom(_VALUE)
    now = int(time.time() * 1000)
    out = []
    for i in range(count):
        builder = BatchBuilder()
        for j in range(_PER_BATCH):
            builder.append(now, b"key-%06d" % ((i * _PER_BATCH + j) % _KEYS), value)
        out.append(bytearray(builder.build()))
    return out


def _fill(directory: Path, config: LogConfig, batches: list[bytearray]) -> Log:
    log = Log.open(directory, config, SystemClock())
    for batch in batches:
        log.append(bytearray(batch), 1)
    log.roll()
    log.append(bytearray(batches[0]), 1)  # the active segment is never cleaned
    log.flush()
    return log


def _pread_all(directory: Path) -> float:
    start = time.perf_counter()
    for path in sorted(directory.glob("*.log")):
        fd = os.open(path, os.O_RDONLY)
        position = 0
        while chunk := os.pread(fd, MIB, position):
            position += len(chunk)
        os.close(fd)
    return time.perf_counter() - start


def _copy_fsync(directory: Path, kept: int) -> float:
    """Seconds to read every segment once and write ``kept`` bytes durably (see above)."""
    start = time.perf_counter()
    out = os.open(directory / "copy.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    left = kept
    for path in sorted(directory.glob("*.log")):
        fd = os.open(path, os.O_RDONLY)
        position = 0
        while chunk := os.pread(fd, MIB, position):
            position += len(chunk)
            if left > 0:
                left -= os.write(out, chunk[: min(left, len(chunk) // 15 + 1)])
        os.close(fd)
    while left > 0:
        left -= os.write(out, bytes(min(left, MIB)))
    os.fsync(out)
    os.close(out)
    os.rename(directory / "copy.tmp", directory / "copy.done")
    dir_fd = os.open(directory, os.O_RDONLY)
    os.fsync(dir_fd)
    os.close(dir_fd)
    seconds = time.perf_counter() - start
    os.unlink(directory / "copy.done")
    return seconds


def _clean_row(work: Path, batches: list[bytearray], rounds: int) -> tuple[float, float, float]:
    """(cleaned MB/s, pread MB/s, copy+fsync MB/s), best of ``rounds``."""
    best_clean = best_read = best_copy = float("inf")
    size = 0
    for r in range(rounds):
        directory = work / f"clean{r}-0"
        log = _fill(directory, COMPACT, batches)
        size = sum(p.stat().st_size for p in directory.glob("*.log"))
        best_read = min(best_read, _pread_all(directory))
        start = time.perf_counter()
        results = clean_log(log, map_bytes=32 * MIB, now_ms=int(time.time() * 1000))
        best_clean = min(best_clean, time.perf_counter() - start)
        log.close()
        kept = sum(result.bytes_written for result in results)
        shutil.rmtree(directory)
        directory = work / f"copy{r}-0"
        _fill(directory, COMPACT, batches).close()
        best_copy = min(best_copy, _copy_fsync(directory, kept))
        shutil.rmtree(directory)
    return size / 1e6 / best_clean, size / 1e6 / best_read, size / 1e6 / best_copy


def _append_all(log: Log, batches: list[bytearray]) -> float:
    start = time.perf_counter()
    for batch in batches:
        log.append(bytearray(batch), 1)
    return time.perf_counter() - start


def _produce_row(
    work: Path, batches: list[bytearray], rounds: int, io_limit: float
) -> tuple[float, float]:
    """(appends MB/s to a compacted log being cleaned, to a plain log), best of ``rounds``."""
    best = {"cleaning": float("inf"), "plain": float("inf")}
    total = _REPEAT * sum(len(b) for b in batches) / 1e6
    for r in range(rounds):
        for side in ("plain", "cleaning") if r % 2 == 0 else ("cleaning", "plain"):
            directory = work / f"{side}{r}-0"
            log = _fill(directory, PLAIN if side == "plain" else COMPACT, batches)
            config = CleanerConfig(backoff_ms=10, io_max_bytes_per_second=io_limit)
            cleaner = None
            if side == "cleaning":
                cleaner = LogCleaner(functools.partial(list, [log]), config)
                cleaner.start()
            try:
                seconds = sum(_append_all(log, batches) for _ in range(_REPEAT))
            finally:
                if cleaner is not None:
                    cleaner.stop()
            best[side] = min(best[side], seconds)
            log.close()
            shutil.rmtree(directory)
    return total / best["cleaning"], total / best["plain"]


def bench_cleaner(work: Path, quick: bool, rounds: int) -> list[tuple[str, float, float, str]]:
    """(workload, logd MB/s, the same run's reference MB/s, target) rows."""
    batches = keyed_batches(2000 if quick else 8000)  # ~32 or ~128 MB
    clean, ceiling, copy = _clean_row(work, batches, rounds)
    # Appends last a fraction of a second: more rounds than the other rows, so each side's
    # best is one the rest of the machine left alone.
    cleaning, plain = _produce_row(work, batches, rounds + 2, IO_LIMIT)
    unthrottled, plain2 = _produce_row(work, batches, rounds + 2, UNLIMITED)
    return [
        ("clean", clean, ceiling, "≥ 50 % of read"),
        ("clean vs copy+fsync", clean, copy, "≥ 50 % of copy+fsync"),
        ("produce, cleaning", cleaning, plain, "≥ 80 % of plain"),
        ("produce, cleaning unthrottled", unthrottled, plain2, "≥ 80 % of plain"),
    ]
