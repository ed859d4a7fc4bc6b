"""The frames waiting for one STOMP connection's socket: bounded, so a browser that reads
slowly holds its subscriptions back instead of growing the broker's memory.

:meth:`Outbox.put` waits while more than ``limit_bytes`` wait already; a wait longer than
``slow_timeout_s`` raises :class:`SlowConsumer` (the connection then gets an ERROR frame and
is closed). Frames the connection itself answers with (RECEIPT, ERROR, heart-beats) go in
with :meth:`put_now`, never waiting (they are few and small: one per client frame). The
socket's writer takes frames with :meth:`get` (None: closed).

Ownership: one connection, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import collections

__all__ = ["Outbox", "SlowConsumer"]


class SlowConsumer(Exception):
    """The client has not read for too long: it is disconnected."""


class Outbox:
    """See the module docstring."""

    def __init__(self, limit_bytes: int, slow_timeout_s: float) -> None:
        self._limit = limit_bytes
        self._slow_s = slow_timeout_s
        self._frames: collections.deque[bytes] = collections.deque()
        self._bytes = 0
        self._ready = asyncio.Event()  # frames are waiting (or closed)
        self._room = asyncio.Event()  # under the limit
        self._room.set()
        self._closed = False

    @property
    def waiting_bytes(self) -> int:
        return self._bytes

    async def put(self, frame: bytes) -> None:
        while self._bytes > self._limit and not self._closed:
            self._room.clear()
            try:
                async with asyncio.timeout(self._slow_s):
                    await self._room.wait()
            except TimeoutError:
                raise SlowConsumer(
                    f"the client read nothing of {self._bytes} bytes waiting for"
                    f" {self._slow_s:g} s: disconnected as a slow consumer"
                ) from None
        self.put_now(frame)

    def put_now(self, frame: bytes) -> None:
        if self._closed:
            return
        self._frames.append(frame)
        self._bytes += len(frame)
        self._ready.set()

    async def get(self) -> bytes | None:
        while not self._frames:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._frames.popleft()
        self._bytes -= len(frame)
        if self._bytes <= self._limit:
            self._room.set()
        return frame

    def close(self) -> None:
        """No more frames; :meth:`get` answers what waits, then None."""
        self._closed = True
        self._ready.set()
        self._room.set()
