"""One Produce bidi stream to one broker: correlation ids, an in-flight bound, answers matched.

The broker's Produce is a bidirectional stream (broker.proto) so a producer keeps several
batches in flight on one HTTP/2 stream. This class owns that stream:

* :meth:`send` gives the request the next correlation id, serializes it
  (``produce_request``: the batch copied once, not through protobuf's message; a
  :class:`FrameSource` batch writes itself behind the request's first bytes, its values
  copied once) and queues it -- so ``open_call`` must open a call whose requests are
  sent as given (no ``request_serializer``; ``Connection`` does so); a writer task
  writes queued requests in order (grpc.aio allows one write at a time, and the order of
  writes is the order the broker appends in, per partition);
* a reader task matches each answer to its request by correlation id and calls the
  request's callback with ``(response, None)``;
* ``acks=0`` requests get no answer: their callback runs once the write went out;
* any failure -- the stream ends, a write fails, an answer is later than the request
  timeout -- breaks the whole stream: every request not yet answered gets
  ``(None, error)`` in the order it was sent, so a caller that retries keeps the
  per-partition order, and the next :meth:`send` opens a new stream. (Kafka's client
  also closes the connection on a request timeout.)

At most ``max_in_flight`` requests are queued or unanswered (Kafka's
``max.in.flight.requests.per.connection``); :attr:`available` says how many more fit.

Owned by the client's event loop; never awaits while mutating its tables. Not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc

from logd.client.transport.produce_request import (
    FrameSource,
    encode_produce_request,
    produce_request_prefix,
)
from logd.client.transport.rpc import error_from_rpc
from logd.errors import LogdError, NetworkError, RequestTimedOutError

__all__ = ["ProduceCallback", "ProduceStream"]

#: ``callback(response, error)``: exactly one is None (both for an acks=0 write).
ProduceCallback = Callable[[Any, LogdError | None], None]


class _Pending:
    __slots__ = ("acks", "callback", "request", "timer")

    def __init__(self, request: bytes, acks: int, callback: ProduceCallback) -> None:
        #: The serialized ``ProduceRequest`` (the call is opened without a serializer).
        self.request = request
        self.acks = acks
        self.callback = callback
        self.timer: asyncio.TimerHandle | None = None


class ProduceStream:
    """The produce stream to one broker. Owned by the client's event loop."""

    def __init__(
        self,
        address: str,
        open_call: Callable[..., Any],
        *,
        max_in_flight: int,
        request_timeout_s: float,
    ) -> None:
        assert max_in_flight >= 1
        self.address = address
        self._open_call = open_call
        self.max_in_flight = max_in_flight
        self._timeout_s = request_timeout_s
        self._next_id = 1
        # Invariant: every request in _queue or _unanswered is in _pending.
        self._pending: dict[int, _Pending] = {}
        self._queue: deque[int] = deque()
        self._wake = asyncio.Event()
        self._call: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        #: Called (no arguments) whenever room frees up, so the sender can send more.
        self.on_available: Callable[[], None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def available(self) -> int:
        return 0 if self._closed else self.max_in_flight - len(self._pending)

    def send(
        self,
        topic: str,
        partition: int,
        acks: int,
        timeout_ms: int,
        records: bytes | bytearray | memoryview | FrameSource,
        callback: ProduceCallback,
    ) -> int:
        """Queue one batch (its bytes, or a batch that writes itself behind the request's
        first bytes); returns its correlation id. Never blocks, never awaits."""
        assert self.available > 0, "send() beyond max_in_flight"
        cid = self._next_id
        self._next_id += 1
        if isinstance(records, bytes | bytearray | memoryview):
            request = encode_produce_request(cid, topic, partition, acks, timeout_ms, records)
        else:
            request = records.frame(
                functools.partial(produce_request_prefix, cid, topic, partition, acks, timeout_ms)
            )  # fmt: skip
        self._pending[cid] = _Pending(request, acks, callback)
        self._queue.append(cid)
        if self._call is None:
            self._open()
        self._wake.set()
        return cid

    def _open(self) -> None:
        self._call = self._open_call(wait_for_ready=False)
        call = self._call
        self._tasks = [
            asyncio.create_task(self._write_loop(call), name=f"produce-writer {self.address}"),
            asyncio.create_task(self._read_loop(call), name=f"produce-reader {self.address}"),
        ]

    async def _write_loop(self, call: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while call is self._call:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                cid = self._queue.popleft()
                pending = self._pending.get(cid)
                if pending is None:
                    continue
                await call.write(pending.request)
                if call is not self._call:
                    return
                if pending.acks == 0:
                    self._finish(cid, None, None)
                else:
                    pending.timer = loop.call_later(self._timeout_s, self._timed_out, call, cid)
        except asyncio.CancelledError:
            raise
        except (grpc.RpcError, asyncio.InvalidStateError, OSError, RuntimeError) as exc:
            self._break(call, _stream_error(call, exc, self.address))

    async def _read_loop(self, call: Any) -> None:
        try:
            while call is self._call:
                response = await call.read()
                if response is grpc.aio.EOF:
                    self._break(call, _end_error(self.address))
                    return
                self._finish(response.correlation_id, response, None)
        except asyncio.CancelledError:
            raise
        except (grpc.RpcError, asyncio.InvalidStateError, OSError, RuntimeError) as exc:
            self._break(call, _stream_error(call, exc, self.address))

    def _finish(self, cid: int, response: Any, error: LogdError | None) -> None:
        pending = self._pending.pop(cid, None)
        if pending is None:
            return  # an acks=0 error answer, or an answer to a request already failed
        if pending.timer is not None:
            pending.timer.cancel()
        pending.callback(response, error)
        if self.on_available is not None:
            self.on_available()

    def _timed_out(self, call: Any, cid: int) -> None:
        if call is self._call and cid in self._pending:
            self._break(
                call,
                RequestTimedOutError(
                    f"{self.address}: no answer to a produce request within "
                    f"{self._timeout_s:g}s (request.timeout.ms)"
                ),
            )

    def _break(self, call: Any, error: LogdError) -> None:
        """Fail every unanswered request, in the order sent, and drop the stream."""
        if call is not self._call:
            return
        self._call = None
        tasks, self._tasks = self._tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        call.cancel()
        pending, self._pending = self._pending, {}
        self._queue.clear()
        for entry in pending.values():
            if entry.timer is not None:
                entry.timer.cancel()
        for entry in pending.values():
            entry.callback(None, error)
        if self.on_available is not None:
            self.on_available()

    def close(self, error: LogdError) -> None:
        """Fail what is unanswered with ``error`` and refuse further sends."""
        self._closed = True
        if self._call is not None:
            self._break(self._call, error)

    async def wait_closed(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _stream_error(call: Any, exc: BaseException, address: str) -> LogdError:
    if isinstance(exc, grpc.RpcError):
        return error_from_rpc(exc, address)
    return NetworkError(f"{address}: produce stream failed: {type(exc).__name__}: {exc}")


def _end_error(address: str) -> LogdError:
    # A stream that ends with an error status raises from read(); EOF means the broker
    # finished the stream cleanly (it is shutting down, say).
    return NetworkError(f"{address}: the broker closed the produce stream")
