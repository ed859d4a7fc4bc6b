"""Records codec throughput: encode and decode records/s, logd beside kafka-python.

Run: ``.venv/bin/python -m bench.records [--quick] [--batch-records N] [--out DIR]``.

For each value size (100 B, 1 KiB) and codec (none, lz4) it times, on batches of
``--batch-records`` null-key records with one timestamp:

* ``append``   BatchBuilder.append per record, then build() (the producer's per-record path)
* ``batch``    build_value_batch over the whole list (the producer's batch path)
* ``decode``   decode_batch + iterating every Record (the lazy pure-Python generator)
* ``records``  decode_batch + ``records()``: the list path the consumer takes, in C when the
  accelerator is built (``LOGD_PURE_PYTHON=1``: pure Python)
* ``kp-enc`` / ``kp-dec``  the same with kafka-python's record builder and reader, as a peer

Each figure is the best of several rounds (the least disturbed by the other processes on
a shared machine), in records per second. It prints a table and writes the figures as
JSON to ``bench/results/records-<UTC timestamp>.json``. A benchmark, not a test: nothing
here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logd.records import BatchBuilder, Compression, accel, build_value_batch, decode_batch

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

__all__ = ["main"]

T0 = 1_700_000_000_000
RESULTS = Path(__file__).parent / "results"


def _values(count: int, size: int, seed: int = 7) -> list[bytes]:
    """Log-line-like values: a counter, a level, and hex noise (lz4 gets ~2x on these)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        line = b"%08d INFO request served " % i + rng.randbytes(size // 2).hex().encode()
        out.append(line[:size])
    return out


def _best(fn: Callable[[], object], records: int, seconds: float) -> float:
    """Records per second of the fastest of as many rounds as fit in ``seconds``."""
    fn()  # warm up
    best = float("inf")
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        rounds += 1
    return records / best


def _append(values: list[bytes], codec: int) -> bytes:
    builder = BatchBuilder(compression=codec)
    append = builder.append
    for value in values:
        append(T0, None, value)
    return builder.build()


def _decode(buf: bytes) -> int:
    n = 0
    for _ in decode_batch(buf):
        n += 1
    return n


def _kp_encode(values: list[bytes], codec: int) -> bytes:
    builder = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 30)
    for value in values:
        builder.append(T0, None, value, [])
    builder.close()
    return bytes(builder.buffer())


def _kp_decode(buf: bytes) -> int:
    n = 0
    for batch in MemoryRecords(buf):
        for _ in batch:
            n += 1
    return n


def _row(size: int, codec: Compression, count: int, seconds: float) -> dict[str, Any]:
    values = _values(count, size)
    ours = build_value_batch(values, T0, compression=codec)
    assert _decode(ours) == count and _kp_decode(ours) == count
    theirs = _kp_encode(values, codec)
    return {
        "value_bytes": size,
        "codec": codec.name.lower(),
        "batch_records": count,
        "batch_bytes": len(ours),
        "append": _best(lambda: _append(values, codec), count, seconds),
        "batch": _best(lambda: build_value_batch(values, T0, compression=codec), count, seconds),
        "decode": _best(lambda: _decode(ours), count, seconds),
        "records": _best(lambda: decode_batch(ours).records(), count, seconds),
        "kp_encode": _best(lambda: _kp_encode(values, codec), count, seconds),
        "kp_decode": _best(lambda: _kp_decode(theirs), count, seconds),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["append", "batch", "decode", "records", "kp_encode", "kp_decode"]
    lines = [
        f"{'VALUE':>6} {'CODEC':<5} {'BYTES':>9} "
        + " ".join(f"{c.upper().replace('_', '-'):>10}" for c in cols)
        + "   (records/s)"
    ]
    for row in rows:
        lines.append(
            f"{row['value_bytes']:>6} {row['codec']:<5} {row['batch_bytes']:>9} "
            + " ".join(f"{row[c]:>10,.0f}" for c in cols)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.records", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="0.2 s a figure instead of 1 s")
    parser.add_argument("--batch-records", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    seconds = 0.2 if args.quick else 1.0
    rows = [
        _row(size, codec, args.batch_records, seconds)
        for size in (100, 1024)
        for codec in (Compression.NONE, Compression.LZ4)
    ]
    print(_table(rows))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"records-{stamp}.json"
    report = {
        "benchmark": "records",
        "utc": stamp,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "method": f"best of rounds within {seconds} s per figure; records/s",
        "records_implementation": accel.implementation(),
        "rows": rows,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
