"""The machine's ceiling: the same bytes written by a plain Python loop, same fsync pattern.

``os.write`` of 1 MiB chunks to one file, with an ``fdatasync`` after each write (what
acks=all with fsync ``always`` asks of a broker that writes 1 MiB batches) or none (what
acks=1 waits for: the page cache). For the produce workloads the figure is turned into
msgs/s with the bytes a record of that value size takes uncompressed in a RecordBatch v2
(value + 9 bytes of record framing + the 61-byte batch header spread over 1 MiB): what a
broker that did nothing but write could reach. logd compresses with lz4 by default, so it
can beat this figure on the wire bytes; the ratio says how close Python gets to the disk.

And the e2e-latency workload's floor (``latency_floor``): the records through the smallest
Python relay that fdatasyncs before it delivers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.harness import Result
from bench.peers import Plan
from bench.peers.latency_floor import run_floor

__all__ = ["RECORD_OVERHEAD", "run", "write_loop"]

NAME = "ceiling"
CHUNK = 1 << 20
#: attributes, timestamp delta, offset delta, key length, value length (2 B), headers
RECORD_OVERHEAD = 9


def write_loop(path: Path, chunk: int, fsync: bool, seconds: float) -> float:
    """MB/s of a loop of ``chunk``-byte appends (each followed by fdatasync when ``fsync``)."""
    data = os.urandom(chunk)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
    written = 0
    try:
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            written += os.write(fd, data)
            if fsync:
                os.fdatasync(fd)
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return written / elapsed / 1e6


def run(root: Path, plan: Plan) -> list[Result]:
    # The e2e workload's floor first (bench/peers/latency_floor.py): the same disk, the
    # same language, nothing but an append, an fdatasync and a relay.
    results = [run_floor(root, plan.rate, plan.latency_s)]
    for fsync, durability in ((True, "fdatasync per 1 MiB write"), (False, "no fsync")):
        mb_s = write_loop(root / "ceiling.dat", CHUNK, fsync, plan.ceiling_s)
        results.append(Result(NAME, durability, "1MiB-batches", 1024, mb_s * 1e6 / 1024, mb_s,
                              note="os.write loop"))  # fmt: skip
        for size in plan.sizes:
            per_record = size + RECORD_OVERHEAD
            results.append(Result(NAME, durability, "produce-batch", size,
                                  mb_s * 1e6 / per_record, mb_s,
                                  note=f"1 MiB writes, {per_record} B a record"))  # fmt: skip
    return results
