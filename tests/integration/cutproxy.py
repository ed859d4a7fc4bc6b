"""A TCP proxy that loses produce answers: it cuts a connection right after the broker
answered a produce request successfully, dropping that answer.

Between a client and a real broker, it forwards bytes both ways and reads the broker's side
as HTTP/2 frames (9-byte header: length, type, flags, stream id). Each DATA frame is
opened as gRPC messages (a 5-byte prefix each) and tried as a ``ProduceResponse``; when a
frame carries a successful answer for the watched topic and the connection has passed its
quota of answers (drawn per connection from ``answers_per_connection``, seeded), that
frame is *not* forwarded: both sides of the connection are aborted instead. So every cut is
"the broker appended (and, with acks=all, committed) but the client never read the answer"
— the fault an idempotent producer must survive without a duplicate.

``on_cut`` runs in the proxy's thread right after a cut (the SIGKILL test kills the broker
there, between its answer and the client's read). ``cutting`` turns cutting off; the
counters say what was done: ``cuts`` and ``lost_answers`` (successful answers dropped).

Runs its own asyncio loop in a daemon thread; ``start``/``stop`` from the test's thread.
Counters are plain ints written by the proxy thread (read them after ``stop`` or as
monotonic hints while it runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import threading
from collections.abc import Callable

from google.protobuf.message import DecodeError

from logd.v1 import broker_pb2

__all__ = ["CutProxy"]

_FRAME = struct.Struct(">HBBBI")  # length as 16 + 8 bits, type, flags, stream id
_DATA = 0x0
_PADDED = 0x8
_GRPC_PREFIX = struct.Struct(">BI")


def _frame_length(header: bytes) -> int:
    high, low, _, _, _ = _FRAME.unpack(header)
    return (high << 8) | low


def successful_answers(payload: bytes, topic: str) -> int:
    """How many successful ProduceResponses of ``topic`` a DATA payload holds."""
    count = 0
    pos = 0
    while len(payload) - pos >= _GRPC_PREFIX.size:
        _, length = _GRPC_PREFIX.unpack_from(payload, pos)
        pos += _GRPC_PREFIX.size
        if length > len(payload) - pos:
            break  # a message continued in the next frame: not an answer we count
        try:
            answer = broker_pb2.ProduceResponse.FromString(payload[pos : pos + length])
        except DecodeError:
            answer = None
        if (
            answer is not None
            and answer.topic == topic
            and answer.correlation_id > 0
            and answer.error.code == 0
        ):
            count += 1
        pos += length
    return count


class CutProxy:
    """See the module doc. One per test."""

    def __init__(
        self,
        upstream_port: int,
        topic: str,
        *,
        seed: int,
        answers_per_connection: tuple[int, int] = (0, 5),
        max_cuts: int | None = None,
        on_cut: Callable[[], None] | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.topic = topic
        self._rng = random.Random(seed)
        self._quota = answers_per_connection
        self.max_cuts = max_cuts
        self.on_cut = on_cut
        self.cutting = True
        self.port = 0
        self.connections = 0
        self.cuts = 0
        self.lost_answers = 0
        self.cut_event = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(client_w)
        try:
            upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.transport.abort()  # the broker is down: the client retries
            self._writers.discard(client_w)
            return
        self._writers.add(upstream_w)
        quota = self._rng.randint(*self._quota)
        pumps = [
            asyncio.ensure_future(self._pump(client_r, upstream_w)),
            asyncio.ensure_future(self._answers(upstream_r, client_w, quota, upstream_w)),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for writer in (client_w, upstream_w):
            writer.transport.abort()
            self._writers.discard(writer)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def _answers(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        quota: int,
        upstream: asyncio.StreamWriter,
    ) -> None:
        """Forward the broker's frames; cut at the first frame of successful produce
        answers once ``quota`` of them went through."""
        passed = 0
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                header = await reader.readexactly(_FRAME.size)
                payload = await reader.readexactly(_frame_length(header))
                _, _, kind, flags, stream_id = _FRAME.unpack(header)
                if kind == _DATA and stream_id & 0x7FFFFFFF and payload:
                    data = payload[1 : len(payload) - payload[0]] if flags & _PADDED else payload
                    answers = successful_answers(data, self.topic)
                    if answers and self._should_cut(passed, quota):
                        self._cut(writer, upstream, answers)
                        return
                    passed += answers
                writer.write(header + payload)
                await writer.drain()

    def _should_cut(self, passed: int, quota: int) -> bool:
        if not self.cutting or (self.max_cuts is not None and self.cuts >= self.max_cuts):
            return False
        return passed >= quota

    def _cut(self, writer: asyncio.StreamWriter, upstream: asyncio.StreamWriter, lost: int) -> None:
        writer.transport.abort()
        upstream.transport.abort()
        self.cuts += 1
        self.lost_answers += lost
        if self.on_cut is not None:
            self.on_cut()
        self.cut_event.set()
