"""The ``1MiB-batches`` workload alone, beside the fdatasync ceiling, with the broker's CPU.

Run: ``.venv/bin/python -m bench.mib_probe [BATCHES] [REPEATS]`` (default 1000 x 3). One
broker (acks=all, fsync always) as the suite starts it; each repeat writes BATCHES batches
of 1,024 x 1 KiB to a new topic, then runs the ceiling's write loop for 2 s, so the two
figures come from the same minutes. Prints MB/s and the broker's CPU time per batch
(utime + stime from ``/proc``, Linux only), the figure the throughput follows on this
machine (bench/README.md, the 1 MiB paragraph). A benchmark, not a test.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench.logd_suite import LogdCluster, mib_batches
from bench.peers.ceiling import write_loop

__all__ = ["main"]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> None:
    batches = int(argv[0]) if argv else 1000
    repeats = int(argv[1]) if len(argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="logd-mib-") as tmp:
        root = Path(tmp)
        with LogdCluster(root / "node", 1) as cluster:
            proc = cluster.services[0].proc
            assert proc is not None
            for _ in range(repeats):
                topic = cluster.create_topic(1)
                before = _cpu_seconds(proc.pid)
                seconds = mib_batches(cluster.brokers, topic, "all", batches)
                cpu = _cpu_seconds(proc.pid) - before
                mb_s = batches * 1024 * 1024 / seconds / 1e6
                ceiling = write_loop(root / "ceiling.dat", 1 << 20, True, 2.0)
                print(
                    f"logd acks=all {mb_s:6.1f} MB/s  ceiling {ceiling:6.1f} MB/s  "
                    f"ratio {mb_s / ceiling:4.2f}  broker CPU {cpu / seconds:4.0%} of a core, "
                    f"{cpu / batches * 1000:.2f} ms a batch",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
