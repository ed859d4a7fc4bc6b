"""Redis Streams: Debian's ``redis-server`` with ``appendonly yes``, ``appendfsync everysec``.

The topic is 8 streams (one per partition, XADD round robin a pipeline at a time).
redis-py, pipelined 1,000 deep (``transaction=False``): produce is XADD ``v`` <value>;
replay is XRANGE of 1,000 at a time from each stream; end-to-end latency sends each 1 ms
tick's records in one pipeline and reads with XREAD BLOCK from another connection. The CLI
reference is ``redis-cli --pipe`` fed the same lines as XADD commands in RESP.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    Result,
    Service,
    Unavailable,
    apt_install,
    free_port,
    line_values,
    pip_import,
    values_of,
    wait_port,
)
from bench.peers import Plan

__all__ = ["DURABILITY", "run"]

NAME = "redis-streams"
DURABILITY = "appendonly yes, appendfsync everysec"
STREAMS = 8
DEPTH = 1000


def _produce(r: Any, values: list[bytes], n: int, prefix: str) -> float:
    start = time.perf_counter()
    k = len(values)
    for chunk in range(n // DEPTH):
        pipe = r.pipeline(transaction=False)
        stream = f"{prefix}{chunk % STREAMS}"
        for i in range(DEPTH):
            pipe.xadd(stream, {"v": values[(chunk * DEPTH + i) % k]})
        pipe.execute()
    return time.perf_counter() - start


def _replay(r: Any, prefix: str) -> tuple[int, float]:
    got = 0
    start = time.perf_counter()
    for s in range(STREAMS):
        last = "-"
        while True:
            entries = r.xrange(f"{prefix}{s}", min=last, count=DEPTH)
            if not entries:
                break
            got += len(entries)
            last = "(" + entries[-1][0].decode()
    return got, time.perf_counter() - start


def _latency(redis: Any, port: int, plan: Plan) -> list[float]:
    lat: list[float] = []
    done = threading.Event()
    names = [f"lat{s}" for s in range(STREAMS)]

    def read() -> None:
        r = redis.Redis(port=port)
        ids = dict.fromkeys(names, "$")
        now = time.perf_counter_ns
        while not done.is_set():
            for stream, entries in r.xread(ids, count=DEPTH, block=50) or []:
                for _, fields in entries:
                    lat.append((now() - int.from_bytes(fields[b"v"][:8], "big")) / 1e6)
                ids[stream.decode()] = entries[-1][0]
        r.close()

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)  # XREAD "$" must be in place before the first XADD
    w = redis.Redis(port=port)
    pad = b"x" * 92
    per_tick = max(1, plan.rate // 1000)
    start = time.perf_counter()
    for tick in range(int(plan.latency_s * 1000)):
        wait = start + tick / 1000 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        pipe = w.pipeline(transaction=False)
        for i in range(per_tick):
            pipe.xadd(
                names[(tick + i) % STREAMS], {"v": time.perf_counter_ns().to_bytes(8, "big") + pad}
            )
        pipe.execute()
    deadline = time.monotonic() + 10
    while len(lat) < per_tick * int(plan.latency_s * 1000) and time.monotonic() < deadline:
        time.sleep(0.01)
    done.set()
    reader.join()
    w.close()
    return lat


def _resp_xadd(lines: bytes) -> bytes:
    out = []
    for i, line in enumerate(lines.splitlines()):
        key = b"cli%d" % (i % STREAMS)
        out.append(b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\nv\r\n$%d\r\n%s\r\n"
                   % (len(key), key, len(line), line))  # fmt: skip
    return b"".join(out)


def run(root: Path, plan: Plan) -> list[Result]:
    server = apt_install("redis-server", "redis-server")
    redis = pip_import("redis", "redis>=5")
    port = free_port()
    data = root / "redis"
    data.mkdir()
    argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--protected-mode", "yes", "--daemonize", "no"]  # fmt: skip
    results: list[Result] = []
    with Service("redis-server", argv, root).running() as svc:
        try:
            wait_port(port, svc.proc, 30)
        except Unavailable as exc:
            raise Unavailable(f"redis-server: {exc}: {svc.tail()}") from None
        r = redis.Redis(port=port)
        for size in plan.sizes:
            n = plan.n if size <= 100 else max(plan.n // 5, DEPTH * STREAMS)
            n -= n % DEPTH
            secs = _produce(r, values_of(size), n, f"s{size}-")
            results.append(Result.throughput(NAME, DURABILITY, "produce-batch", size, n, secs,
                                              note=f"pipelined {DEPTH}"))  # fmt: skip
            got, secs = _replay(r, f"s{size}-")
            results.append(Result.throughput(NAME, DURABILITY, "replay", size, got, secs,
                                              note=f"XRANGE COUNT {DEPTH}"))  # fmt: skip
        lat = _latency(redis, port, plan)
        results.append(Result.latency(NAME, DURABILITY, "e2e-latency", 100, lat, plan.latency_s,
                                      note="XREAD BLOCK"))  # fmt: skip
        r.close()
        results.extend(_cli_pipe(root, port, plan))
    return results


def _cli_pipe(root: Path, port: int, plan: Plan) -> list[Result]:
    cli = apt_install("redis-cli", "redis-tools")
    path = root / "redis-xadd.resp"
    path.write_bytes(_resp_xadd(line_values(100, plan.cli_lines)))
    start = time.perf_counter()
    with path.open("rb") as stdin:
        done = subprocess.run([cli, "-p", str(port), "--pipe"], stdin=stdin,
                              capture_output=True, check=False)  # fmt: skip
    secs = time.perf_counter() - start
    if done.returncode != 0:
        raise Unavailable(f"redis-cli --pipe failed: {done.stderr.decode().strip()}")
    return [Result.throughput("redis-cli --pipe", DURABILITY, "cli-produce", 100, plan.cli_lines,
                              secs, note="XADD in RESP, a C client")]  # fmt: skip
