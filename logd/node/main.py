"""Run one broker in the foreground until SIGTERM or SIGINT; ``logd serve`` calls :func:`serve`.

Exit codes: 0 after a clean shutdown (the clean-shutdown marker written), 1 when the broker
cannot start (one line on stderr: a bad config, the port or the data directory in use).
A second SIGTERM/SIGINT during shutdown skips what is left of the grace period; the logs are
still flushed and the marker written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Mapping

from logd.broker.config import BrokerConfig
from logd.errors import LogdError
from logd.node.allocator import tune_allocator
from logd.node.args import add_arguments, config_from_args
from logd.node.logs import configure as configure_logging

__all__ = ["freeze_start_up_objects", "main", "serve"]

_log = logging.getLogger("logd.node")


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def serve(config: BrokerConfig, *, log_level: str = "INFO", log_format: str = "text") -> int:
    """Run the broker until a signal; returns the process exit code."""
    _without_hypothesis()
    tune_allocator()
    configure_logging(log_level, log_format)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        return runner.run(_serve(config))


def _without_hypothesis() -> None:
    """kio (the Kafka front end's messages) registers a hypothesis strategy for every type it
    defines when hypothesis is importable (``kio.static._phantom``): in an install with the
    ``dev`` extra -- every test broker -- that is ~0.4 s of CPU per broker start (importing
    the Kafka listener: 1.40 s median with it, 0.97 s without, at load 7), for a library no
    broker code uses. A broker process marks it absent before
    anything imports kio (kio then skips the registration); a process that loaded hypothesis
    already keeps it."""
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]  # None: "absent"


def freeze_start_up_objects() -> int:
    """Move everything alive once the broker serves (modules, config, the open logs) out of
    the collector's reach (``gc.freeze``) and return how many objects that is. CPython's
    full collections walk every tracked object: with the front ends imported lazily the
    long-lived heap got small enough that full collections came every few seconds under
    load and paused the loop 40-80 ms each, which tripled the RF=1 p99 (issue 22; gc
    callbacks in ``bench.latency_trace``'s broker). Frozen objects are never collected --
    start-up garbage is collected first -- and a full collection then walks only what came
    after."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def _serve(config: BrokerConfig) -> int:
    from logd.node.runner import NodeRunner

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    server = NodeRunner(config)
    hurrying: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        if stopping.is_set() and not hurrying:
            _log.warning("%s again: cancelling what is still in flight", signal.strsignal(signum))
            hurrying.append(loop.create_task(server.hurry()))
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await server.open()
    except LogdError as exc:
        await server.stop(0)
        sys.stderr.write(f"error: {exc}\n")
        return 1
    assert server.address is not None and server.node is not None
    # The cluster may take a while to form (peers starting): a signal meanwhile stops us.
    serving = loop.create_task(server.serve())
    stop_waiting = loop.create_task(stopping.wait())
    await asyncio.wait({serving, stop_waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await server.stop()
        return 0
    stop_waiting.cancel()
    try:
        serving.result()
    except LogdError as exc:
        await server.stop(0)
        sys.stderr.write(f"error: {exc}\n")
        return 1
    freeze_start_up_objects()
    _announce(server.address, str(server.node.data_dir), config, server.bound)
    await stopping.wait()
    _log.info("shutting down: draining requests (grace %d ms)", config.shutdown_grace_ms)
    await server.stop()
    for task in hurrying:
        await task
    _log.info("stopped cleanly")
    return 0


def _announce(
    address: object, data_dir: str, config: BrokerConfig, bound: Mapping[str, object]
) -> None:
    """The line saying where the broker listens and keeps its data, one line per listener
    (``listener NAME HOST:PORT``, the address bound), then how to try it."""
    flag = "" if str(address) == "127.0.0.1:7070" else f" -b {address}"
    listeners = "".join(f"listener {name} {where}\n" for name, where in bound.items())
    http = (
        f"\n  curl -H 'Content-Type: application/vnd.kafka.json.v2+json' --data "
        f'\'{{"records":[{{"value":{{"temp":21.5}}}}]}}\' http://{bound["http"]}/topics/demo'
        if "http" in bound
        else ""
    )
    kafka = (
        f"\nKafka clients (kcat, librdkafka, kafka-python ...) connect to {bound['kafka']}:\n"
        f"  kcat -b {bound['kafka']} -L\n"
        f"  seq 10 | kcat -b {bound['kafka']} -P -t demo"
        if "kafka" in bound
        else ""
    )
    print(
        f"logd broker {config.node_id} listening on {address}, data in {data_dir}\n"
        f"{listeners}"
        "try it from another terminal:\n"
        f"  logd topic create demo{flag}\n"
        f"  seq 10 | logd produce demo{flag}\n"
        f"  logd consume demo -o start{flag}{http}"
        f"{kafka}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m logd.node", description="run a broker")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except LogdError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return serve(config, log_level=args.log_level, log_format=args.log_format)
