"""One ``Produce`` bidirectional stream: read requests in order, answer them as they finish.

Order. The reader hands each request to ``BrokerCore.produce_nowait``, which appends before
returning, so a partition's appends follow the stream's order. Answers may overtake each
other (an acks=1 answer is ready at once, an acks=all one after the fsync); the client
matches them by ``correlation_id``.

Backpressure (STYLE.md 14; uvicorn's ``flow_control``). At most ``max_in_flight`` requests
are read but not yet answered *and written*; beyond that the reader stops reading, gRPC's
flow-control window fills and the client's writes block. A client that stops reading its
answers is throttled the same way, so neither side can grow the broker's memory.

Endings. The client half-closes: every answer is written, then the call ends OK. A request
that does not parse: the answers already due are written, then the call ends with
INVALID_REQUEST (nothing after the bad message was read, let alone appended). The broker
drains: reading stops, due answers are written, and the call ends UNAVAILABLE so the client
retries its unanswered requests elsewhere — none of them was appended.

acks=0: no answer is written unless the request failed (``ProduceRequest.acks``).

Ownership: one object per call, on the broker's event loop; a single writer coroutine owns
``context.write`` (grpc.aio allows one write at a time).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from logd.broker.api import ProduceResult
from logd.broker.seam import BrokerSeam, Caller
from logd.errors import BrokerUnavailableError, LogdError, UnknownServerError
from logd.frontends.grpc import convert
from logd.frontends.grpc.errors import abort
from logd.frontends.grpc.handlers import LISTENER, Malformed
from logd.frontends.grpc.produce_frame import ProduceFrame

__all__ = ["ProduceStream"]

_log = logging.getLogger(__name__)
_END = object()


class ProduceStream:
    """Serves one Produce call; see the module doc."""

    def __init__(
        self,
        seam: BrokerSeam,
        context: grpc.aio.ServicerContext,
        max_in_flight: int,
        caller: Caller,
    ) -> None:
        self._broker = seam
        self._caller = caller
        self._context = context
        self._slots = asyncio.Semaphore(max_in_flight)
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._outstanding = 0  # futures of acks=all answers not yet resolved
        self._reading_done = False
        self._ending: LogdError | None = None
        self._reader: asyncio.Task[None] | None = None

    def drain(self) -> None:
        """The broker is shutting down: stop reading, answer what was read, end."""
        if self._reading_done:
            return
        if self._ending is None:
            self._ending = BrokerUnavailableError("the broker is shutting down; retry")
        if self._reader is not None:
            self._reader.cancel()

    async def serve(self, requests: AsyncIterator[Any]) -> None:
        if self._ending is None:
            self._reader = asyncio.get_running_loop().create_task(self._read(requests))
        else:  # drained before it began: read nothing
            self._reading_done = True
            self._maybe_end()
        try:
            await self._write_all()
        finally:
            if self._reader is not None:
                self._reader.cancel()
        if self._ending is not None:
            await abort(self._context, self._ending)

    # -- reading --------------------------------------------------------------------------

    async def _read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                if isinstance(request, Malformed):
                    self._ending = request.error()
                    break
                await self._slots.acquire()
                self._submit(request)
                # A quota's mute (KIP-219): stop reading this stream while the caller is
                # throttled, as Kafka stops reading a throttled connection.
                wait_ms = self._broker.security.throttle_ms(self._caller)
                if wait_ms > 0:
                    await asyncio.sleep(wait_ms / 1000.0)
        except asyncio.CancelledError:
            pass  # drain(), or the call ended
        except Exception:  # a bug: end this stream with an answer, keep the broker serving
            _log.exception("produce stream failed")
            self._ending = UnknownServerError("produce failed inside the broker")
        finally:
            self._reading_done = True
            self._maybe_end()

    def _submit(self, request: ProduceFrame) -> None:
        started = time.perf_counter()
        # An acks=all answer comes through ``on_answer`` in the commit's own call, not a
        # done callback one loop turn later (issue 22); counted first, as it may come at
        # once (a duplicate already committed).
        self._outstanding += 1
        answer = self._broker.produce_nowait(
            request.topic,
            request.partition,
            request.acks,
            # The one copy of the batch: the frame's bytes (read in place, produce_frame.py)
            # into the writable buffer Raft stamps; the core copies a bytearray no more.
            bytearray(request.records),
            request.timeout_ms,
            caller=self._caller,
            on_answer=functools.partial(self._answered, request, started),
        )
        if isinstance(answer, ProduceResult):
            self._outstanding -= 1
            self._answer(request, started, answer)

    def _answered(self, request: ProduceFrame, started: float, result: ProduceResult) -> None:
        self._outstanding -= 1
        self._answer(request, started, result)
        self._maybe_end()

    def _answer(self, request: ProduceFrame, started: float, result: ProduceResult) -> None:
        # The request boundary of a produce: one figure per ProduceRequest of the stream.
        self._broker.telemetry.request(
            LISTENER, "Produce", started, len(request.records), error=result.error is not None
        )
        if request.acks == 0 and result.error is None:
            self._slots.release()  # fire-and-forget: nothing to write
            return
        self._out.put_nowait(convert.produce_response(request, result))

    def _maybe_end(self) -> None:
        if self._reading_done and self._outstanding == 0:
            self._out.put_nowait(_END)

    # -- writing --------------------------------------------------------------------------

    async def _write_all(self) -> None:
        while True:
            item = await self._out.get()
            if item is _END:
                # Answers queued after _END cannot exist: _END comes once nothing is pending.
                return
            await self._context.write(item)
            self._slots.release()
