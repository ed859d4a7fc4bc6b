"""The Python clients' throughput against one real broker (issue 4; issue 8 extends it).

Run: ``.venv/bin/python -m bench.client [--records N] [--acks all|1|0] [--brokers HOST:PORT]
[--no-idempotence]``.

Without ``--brokers`` it starts ``python -m logd.node`` on a free loopback port with a
temporary data directory (fsync ``always``, the default). On a fresh 8-partition topic it
measures, with 100-byte values (half random, so lz4 has real work) and lz4:

* per-record ``Producer.produce()`` of N records, ended by ``flush()``;
* the batch API ``Producer.produce_batch()`` in slices of 10,000, ended by ``flush()``;
* replay of everything from the start with ``Consumer.consume()``.

Client and broker share the machine's cores, so these are figures of the pair. A
benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, Producer, TopicPartition
from logd.errors import LogdError

__all__ = ["main"]

_SLICE = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _broker(address: str | None) -> Iterator[str]:
    if address is not None:
        yield address
        return
    with tempfile.TemporaryDirectory(prefix="logd-bench-") as data:
        address = f"127.0.0.1:{_free_port()}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "logd.node", "--data-dir", data, "--listen", address,
             "--log-level", "WARNING", "--admin-listen", "off"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    Admin(brokers=address, request_timeout_ms=2000).close()
                    break
                except LogdError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield address
        finally:
            proc.terminate()
            proc.wait(60)


def _produce(
    address: str, topic: str, n: int, acks: str, values: list[bytes], idempotence: bool
) -> None:
    with Producer(brokers=address, acks=acks, enable_idempotence=idempotence) as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        produce = producer.produce
        start = time.perf_counter()
        for i in range(n):
            produce(topic, values[i % len(values)])
        left = producer.flush()
        rate = n / (time.perf_counter() - start)
        print(f"produce()         {rate:>12,.0f} msgs/s   ({left} undelivered)")

        batch = [values[i % len(values)] for i in range(_SLICE)]
        start = time.perf_counter()
        for _ in range(n // _SLICE):
            producer.produce_batch(topic, batch)
        left = producer.flush()
        rate = n // _SLICE * _SLICE / (time.perf_counter() - start)
        print(f"produce_batch()   {rate:>12,.0f} msgs/s   ({left} undelivered)")


def _replay(address: str, topic: str, partitions: int, total: int) -> None:
    with Consumer(brokers=address) as consumer:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got = 0
        start = time.perf_counter()
        while got < total:
            records = consumer.consume(100_000, 10)
            if not records:
                break
            got += len(records)
        rate = got / (time.perf_counter() - start)
        print(f"replay consume()  {rate:>12,.0f} msgs/s   ({got} of {total})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__)
    parser.add_argument("--brokers", help="a running broker (default: start one)")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--acks", default="all", choices=("all", "1", "0"))
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--no-idempotence", action="store_true", help="sequence numbers off (on with acks=all)"
    )
    args = parser.parse_args(argv)
    idempotence = args.acks == "all" and not args.no_idempotence
    values = [os.urandom(50) + b"x" * 50 for _ in range(1000)]
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    with _broker(args.brokers) as address:
        with Admin(brokers=address) as admin:
            admin.create_topics([NewTopic(topic, args.partitions, 1)])
        print(
            f"{args.records:,} records of 100 B, acks={args.acks}, lz4, "
            f"idempotence {'on' if idempotence else 'off'}, broker {address}"
        )
        _produce(address, topic, args.records, args.acks, values, idempotence)
        _replay(address, topic, args.partitions, 1 + args.records // _SLICE * _SLICE + args.records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
