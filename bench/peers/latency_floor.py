"""The latency floor: the e2e workload through the smallest Python relay that keeps the
same promise as logd's acks=all with fsync ``always`` -- nothing reaches a consumer before
an fdatasync covered it.

A server process (``python -m bench.peers.latency_floor DIR``, asyncio on uvloop as the
broker runs) takes length-prefixed records from a producer connection, appends each to one
of 8 files (a partition each), and fdatasyncs each file in a thread pool of 4 -- one fsync
in flight per file, the records that came meanwhile covered by the next one (group commit,
as ``logd.storage.flusher``) -- then writes what the fsync covered to the consumer
connection. No Raft, no record batches, no protocol, no offsets, no acknowledgements to
the producer: what is left is the floor of this machine and language for the workload --
a producer thread's send, a loop's read and write, a thread pool's fdatasync and its way
back, a consumer thread's receive. logd's e2e figures read against it say how much of
their time is logd's own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.harness import Result, Unavailable

__all__ = ["DURABILITY", "NAME", "floor_e2e", "main"]

NAME = "python-floor"
DURABILITY = "1 relay, fdatasync before delivery"
PARTITIONS = 8
_HEAD = struct.Struct(">IB")  # length of what follows the partition byte, partition
_MAX = 1 << 20


class _Relay:
    """The server's state, on its loop: one consumer, the files, the fsyncs in flight."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.get_running_loop()
        self.fds = [os.open(root / f"p{i}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    for i in range(PARTITIONS)]  # fmt: skip
        self.pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="floor-fsync")
        self.consumer: asyncio.Transport | None = None
        self.pending: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
        self.flushing = [False] * PARTITIONS

    def append(self, partition: int, frame: bytes) -> None:
        os.write(self.fds[partition], frame)
        self.pending[partition].append(frame)
        if not self.flushing[partition]:
            self._flush(partition)

    def _flush(self, partition: int) -> None:
        covered, self.pending[partition] = self.pending[partition], []
        self.flushing[partition] = True
        fd = self.fds[partition]

        def sync() -> None:
            os.fdatasync(fd)
            self.loop.call_soon_threadsafe(self._synced, partition, covered)

        self.pool.submit(sync)

    def _synced(self, partition: int, covered: list[bytes]) -> None:
        self.flushing[partition] = False
        if self.consumer is not None:
            self.consumer.write(b"".join(covered))
        if self.pending[partition]:
            self._flush(partition)


class _Conn(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay
        self.buf = bytearray()
        self.role = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self.role:
            self.role, data = data[:1], data[1:]
            if self.role == b"C":
                self.relay.consumer = self.transport  # type: ignore[assignment]
            self.transport.write(b"!")  # type: ignore[attr-defined]  # known: go
        if self.role != b"P":
            return
        buf = self.buf
        buf += data
        pos = 0
        while len(buf) - pos >= _HEAD.size:
            size, partition = _HEAD.unpack_from(buf, pos)
            if size > _MAX or partition >= PARTITIONS:
                self.transport.close()  # type: ignore[attr-defined]
                return
            end = pos + _HEAD.size + size
            if end > len(buf):
                break
            self.relay.append(partition, bytes(buf[pos:end]))
            pos = end
        del buf[:pos]


async def _serve(root: Path) -> None:
    relay = _Relay(root)
    server = await relay.loop.create_server(lambda: _Conn(relay), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed


def main(argv: list[str] | None = None) -> None:
    """The server: ``python -m bench.peers.latency_floor DIR``; prints its port, runs until
    its stdin closes."""
    root = Path((argv or sys.argv[1:])[0])
    try:
        import uvloop

        uvloop.run(_serve(root))
    except ImportError:
        asyncio.run(_serve(root))


def floor_e2e(root: Path, rate: int, seconds: float) -> list[float]:
    """Milliseconds from a record's send to its receipt past the relay's fdatasync, at
    ``rate`` records/s in 1 ms ticks (linger 0: each tick's records go out at once, one
    write), 100-byte records round robin over the 8 partitions, as the suite's e2e row."""
    root.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "bench.peers.latency_floor", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.strip().isdigit():
            raise Unavailable("the floor relay did not start")
        port = int(line)
        return _drive(port, rate, seconds)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _drive(port: int, rate: int, seconds: float) -> list[float]:
    consumer = socket.create_connection(("127.0.0.1", port))
    producer = socket.create_connection(("127.0.0.1", port))
    for s in (consumer, producer):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for s, role in ((consumer, b"C"), (producer, b"P")):
        s.sendall(role)
        s.settimeout(10)
        if s.recv(1) != b"!":  # the relay knows the connection: records may go
            raise Unavailable("the floor relay did not answer")
    expected = int(rate * seconds)
    lat: list[float] = []
    done = threading.Event()

    def read() -> None:
        now = time.perf_counter_ns
        buf = bytearray()
        consumer.settimeout(0.2)
        while len(lat) < expected and not done.is_set():
            try:
                chunk = consumer.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            buf += chunk
            t = now()
            pos = 0
            while len(buf) - pos >= _HEAD.size:
                size = _HEAD.unpack_from(buf, pos)[0]
                end = pos + _HEAD.size + size
                if end > len(buf):
                    break
                sent = int.from_bytes(buf[pos + _HEAD.size : pos + _HEAD.size + 8], "big")
                lat.append((t - sent) / 1e6)
                pos = end
            del buf[:pos]

    reader = threading.Thread(target=read, name="floor-reader")
    reader.start()
    pad = b"x" * 92
    per_tick, start, n = max(1, rate // 1000), time.perf_counter(), 0
    try:
        for tick in range(int(seconds * 1000)):
            wait = start + tick / 1000 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            out = []
            for _ in range(per_tick):
                out.append(_HEAD.pack(100, n % PARTITIONS))
                out.append(time.perf_counter_ns().to_bytes(8, "big") + pad)
                n += 1
            producer.sendall(b"".join(out))
        reader.join(10)
    finally:
        done.set()
        reader.join()
        producer.close()
        consumer.close()
    return lat


def run_floor(root: Path, rate: int, seconds: float) -> Result:
    lat = floor_e2e(root / "floor", rate, seconds)
    return Result.latency(NAME, DURABILITY, "e2e-latency", 100, lat, seconds,
                          note=f"{rate:,} msgs/s, 8 files, fdatasync per group")  # fmt: skip


if __name__ == "__main__":
    main()
