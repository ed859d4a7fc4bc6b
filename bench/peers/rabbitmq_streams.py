"""RabbitMQ Streams: Debian's ``rabbitmq-server`` with the ``rabbitmq_stream`` plugin.

Started from its own scripts (not the service wrapper) with every directory, the Erlang
cookie's home and ``epmd`` private to this run, and every listener on 127.0.0.1: AMQP, the
stream protocol, Erlang distribution (``inet_dist_use_interface``) and epmd
(``ERL_EPMD_ADDRESS``). The topic is 8 streams. rstream: produce is ``send_batch`` of
1,000 raw messages round robin over the streams, to the last publish confirm; replay
subscribes to every stream from the first offset; end-to-end latency sends each 1 ms
tick's records in one ``send_batch`` and reads with subscriptions from ``NEXT``. A stream
confirms a publish once it is written to the leader's segment (and replicated, with
replicas), with no fsync per batch: that is the durability stated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    Result,
    Service,
    Unavailable,
    apt_install,
    free_port,
    pip_import,
    values_of,
    wait_port,
)
from bench.peers import Plan

__all__ = ["DURABILITY", "run"]

NAME = "rabbitmq-streams"
DURABILITY = "stream, confirm on write, no fsync per batch"
BATCH = 1000
STREAMS = 8
USER = {"username": "guest", "password": "guest"}  # guest may log in from loopback only


def _env(home: Path, amqp: int, stream: int, dist: int, epmd: int) -> dict[str, str]:
    for d in ("mnesia", "log", "home"):
        (home / d).mkdir(parents=True, exist_ok=True)
    conf = home / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\n"
        f"stream.listeners.tcp.default = 127.0.0.1:{stream}\n"
        "stream.advertised_host = 127.0.0.1\n"
        f"stream.advertised_port = {stream}\n"
    )
    (home / "enabled_plugins").write_text("[rabbitmq_stream].\n")
    return dict(
        os.environ,
        HOME=str(home / "home"),
        RABBITMQ_NODENAME=f"bench{amqp}@localhost",
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_NODE_PORT=str(amqp),
        RABBITMQ_DIST_PORT=str(dist),
        RABBITMQ_CONFIG_FILE=str(conf),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(home / "enabled_plugins"),
        RABBITMQ_MNESIA_BASE=str(home / "mnesia"),
        RABBITMQ_LOG_BASE=str(home / "log"),
        RABBITMQ_PID_FILE=str(home / "rabbit.pid"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        ERL_EPMD_ADDRESS="127.0.0.1",
        ERL_EPMD_PORT=str(epmd),
    )


async def _produce(rstream: Any, port: int, prefix: str, values: list[bytes], n: int) -> float:
    k = len(values)
    confirmed = 0
    all_done = asyncio.Event()

    async def on_confirm(status: Any) -> None:
        nonlocal confirmed
        confirmed += 1
        if confirmed >= n:
            all_done.set()

    async with rstream.Producer("127.0.0.1", port, **USER) as producer:
        for s in range(STREAMS):
            await producer.create_stream(f"{prefix}{s}", exists_ok=True)
        start = time.perf_counter()
        for chunk in range(n // BATCH):
            batch = [values[(chunk * BATCH + i) % k] for i in range(BATCH)]
            await producer.send_batch(f"{prefix}{chunk % STREAMS}", batch,
                                      on_publish_confirm=on_confirm)  # fmt: skip
        await asyncio.wait_for(all_done.wait(), 120)
        return time.perf_counter() - start


async def _consume(rstream: Any, port: int, prefix: str, total: int) -> tuple[int, float]:
    got = 0
    done = asyncio.Event()

    async def on_message(msg: bytes, ctx: Any) -> None:
        nonlocal got
        got += 1
        if got >= total:
            done.set()

    spec = rstream.ConsumerOffsetSpecification(rstream.OffsetType.FIRST, None)
    async with rstream.Consumer("127.0.0.1", port, **USER) as consumer:
        start = time.perf_counter()
        for s in range(STREAMS):
            await consumer.subscribe(f"{prefix}{s}", on_message, offset_specification=spec,
                                     initial_credit=10)  # fmt: skip
        task = asyncio.create_task(consumer.run())
        with contextlib.suppress(TimeoutError):  # counted as far as it got
            await asyncio.wait_for(done.wait(), 120)
        secs = time.perf_counter() - start
        task.cancel()
    return got, secs


async def _latency(rstream: Any, port: int, plan: Plan) -> list[float]:
    lat: list[float] = []
    now = time.perf_counter_ns

    async def on_message(msg: bytes, ctx: Any) -> None:
        lat.append((now() - int.from_bytes(msg[:8], "big")) / 1e6)

    spec = rstream.ConsumerOffsetSpecification(rstream.OffsetType.NEXT, None)
    pad = b"x" * 92
    per_tick = max(1, plan.rate // 1000)
    ticks = int(plan.latency_s * 1000)
    async with rstream.Producer("127.0.0.1", port, **USER) as producer, \
            rstream.Consumer("127.0.0.1", port, **USER) as consumer:  # fmt: skip
        for s in range(STREAMS):
            await producer.create_stream(f"lat{s}", exists_ok=True)
            await consumer.subscribe(f"lat{s}", on_message, offset_specification=spec)
        task = asyncio.create_task(consumer.run())
        await asyncio.sleep(0.2)
        start = time.perf_counter()
        for tick in range(ticks):
            wait = start + tick / 1000 - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            batch = [now().to_bytes(8, "big") + pad for _ in range(per_tick)]
            await producer.send_batch(f"lat{tick % STREAMS}", batch)
        deadline = time.monotonic() + 10
        while len(lat) < per_tick * ticks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
    return lat


async def _run(rstream: Any, port: int, plan: Plan) -> list[Result]:
    results = []
    for size in plan.sizes:
        n = plan.n if size <= 100 else max(plan.n // 5, BATCH * STREAMS)
        n -= n % BATCH
        secs = await _produce(rstream, port, f"s{size}-", values_of(size), n)
        results.append(Result.throughput(NAME, DURABILITY, "produce-batch", size, n, secs,
                                          note=f"send_batch {BATCH:,}"))  # fmt: skip
        got, secs = await _consume(rstream, port, f"s{size}-", n)
        results.append(Result.throughput(NAME, DURABILITY, "replay", size, got, secs,
                                          note="subscribe from FIRST"))  # fmt: skip
    lat = await _latency(rstream, port, plan)
    results.append(Result.latency(NAME, DURABILITY, "e2e-latency", 100, lat, plan.latency_s,
                                  note="subscribe from NEXT"))  # fmt: skip
    return results


def run(root: Path, plan: Plan) -> list[Result]:
    wrapper = apt_install("rabbitmq-server", "rabbitmq-server")
    # The Debian wrapper switches to the rabbitmq user; its own script runs as we are.
    script = Path(os.path.realpath(wrapper)).with_name("rabbitmq-server")
    rstream = pip_import("rstream", "rstream")
    amqp, stream, dist, epmd = (free_port() for _ in range(4))
    env = _env(root / "rabbitmq", amqp, stream, dist, epmd)
    try:
        with Service("rabbitmq-server", [str(script)], root, env).running() as svc:
            try:
                wait_port(stream, svc.proc, 90)
            except Unavailable as exc:
                raise Unavailable(f"rabbitmq-server: {exc}: {svc.tail()}") from None
            return asyncio.run(_run(rstream, stream, plan))
    finally:
        # epmd outlives the node as a daemon; this one is private to the run (its port).
        subprocess.run(["epmd", "-port", str(epmd), "-kill"], capture_output=True, check=False,
                       env=env)  # fmt: skip
