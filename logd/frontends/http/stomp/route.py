"""``GET /stomp``: STOMP 1.2 over WebSocket -- the socket side of a connection.

The WebSocket subprotocols ``v12.stomp``/``v11.stomp``/``v10.stomp`` are accepted (what
``@stomp/stompjs`` offers); the protocol spoken is 1.2. A WebSocket message may hold any
part of a frame, or several (``frames.FrameParser`` reassembles them); a message larger than
``http.stomp.max.frame.bytes`` + 4 KiB is refused by the WebSocket layer itself (close code
1009), a frame larger than the limit gets an ERROR frame. Frames go out as text messages when
they are UTF-8, else as binary ones.

Three tasks per connection besides the reader: the writer (the outbox to the socket), the
answers in order (``StompSession.answer_in_order``) and the heart-beats. The client must send
something (a frame or a heart-beat) within twice the negotiated interval, and its CONNECT --
or the rest of a frame begun -- within ``http.request.timeout.ms``, else an ERROR frame ends
the connection. When the listener
drains, every connection gets an ERROR frame ("shutting down") and is closed; its
subscriptions make their last commits.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from aiohttp import WSMessage, WSMsgType, web

from logd.frontends.http.auth import caller_of, password_caller
from logd.frontends.http.context import HttpContext, context
from logd.frontends.http.errors import RestError
from logd.frontends.http.stomp.frames import FrameError, FrameParser
from logd.frontends.http.stomp.outbox import Outbox
from logd.frontends.http.stomp.session import StompError, StompSession

__all__ = ["add_stomp_routes"]

_PROTOCOLS: Final = ("v12.stomp", "v11.stomp", "v10.stomp")
_WS_SLACK: Final = 4096
_FLUSH_S: Final = 5.0
_HEARTBEAT: Final = b"\n"


async def _write(ws: web.WebSocketResponse, outbox: Outbox) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        while (frame := await outbox.get()) is not None:
            try:
                await ws.send_str(frame.decode("utf-8"))
            except UnicodeDecodeError:
                await ws.send_bytes(frame)


async def _beat(session: StompSession, outbox: Outbox) -> None:
    every_s = session.heartbeat[0] / 1000.0
    while True:
        await asyncio.sleep(every_s)
        outbox.put_now(_HEARTBEAT)


class _Connection:
    """The reading side of one connection."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, ctx: HttpContext) -> None:
        self.ws = ws
        self.ctx = ctx
        settings = ctx.settings.stomp
        self.outbox = Outbox(settings.send_buffer_bytes, settings.slow_consumer_timeout_ms / 1e3)
        address = request.remote or ""
        agent = request.headers.get("User-Agent", "")[:128]
        self.session = StompSession(
            ctx, self.outbox,
            default_caller=lambda: caller_of(request, ctx.seam),
            password_caller=lambda login, code: password_caller(
                ctx.seam, login, code, address, agent
            ),
        )  # fmt: skip
        self.parser = FrameParser(settings.max_frame_bytes)
        self.beats: asyncio.Task[None] | None = None

    def _idle_s(self) -> float:
        if self.session.caller is None or self.parser.mid_frame:
            return self.ctx.settings.request_timeout_ms / 1000.0
        expect_ms = self.session.heartbeat[1]
        return 2 * expect_ms / 1000.0 if expect_ms else 0.0

    async def read(self) -> None:
        ended = asyncio.ensure_future(self.session.ended.wait())
        drained = asyncio.ensure_future(self.ctx.drained.wait())
        try:
            while not self.session.ended.is_set():
                idle_s = self._idle_s()
                receive = asyncio.ensure_future(self.ws.receive(idle_s or None))
                await asyncio.wait({receive, ended, drained}, return_when=asyncio.FIRST_COMPLETED)
                if not receive.done():
                    receive.cancel()
                    if drained.done():
                        self.session.fail("the broker is shutting down: reconnect to another")
                    return
                await self._take(receive)
        finally:
            ended.cancel()
            drained.cancel()

    async def _take(self, receive: asyncio.Future[WSMessage]) -> None:
        try:
            msg = receive.result()
        except TimeoutError:
            self.session.fail(f"nothing from the client for {self._idle_s():g} s")
            return
        if msg.type == WSMsgType.TEXT:
            data = str(msg.data).encode("utf-8")
        elif msg.type == WSMsgType.BINARY:
            data = bytes(msg.data)
        else:  # closed, closing, an error (a message over the WebSocket limit: 1009)
            self.session.ended.set()
            return
        try:
            for frame in self.parser.feed(data):
                await self.session.handle(frame)
                if self.beats is None and self.session.heartbeat[0]:
                    self.beats = asyncio.create_task(_beat(self.session, self.outbox))
        except FrameError as exc:
            self.session.fail(str(exc))
        except StompError as exc:
            self.session.fail(exc.message, exc.receipt, exc.detail)


async def stomp(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    settings = ctx.settings.stomp
    ws = web.WebSocketResponse(protocols=_PROTOCOLS,
                               max_msg_size=settings.max_frame_bytes + _WS_SLACK)  # fmt: skip
    if not ws.can_prepare(request).ok:
        raise RestError(400, 400, "/stomp speaks STOMP over WebSocket: send an Upgrade request")
    await ws.prepare(request)
    conn = _Connection(request, ws, ctx)
    loop = asyncio.get_running_loop()
    writer = loop.create_task(_write(ws, conn.outbox))
    answers = loop.create_task(conn.session.answer_in_order())
    try:
        await conn.read()
    finally:
        for task in (answers, conn.beats):
            if task is not None:
                task.cancel()
        await conn.session.close()
        conn.outbox.close()
        await _close(request, ws, writer)
    return ws


async def _close(request: web.Request, ws: web.WebSocketResponse, writer: asyncio.Task[None]
                 ) -> None:  # fmt: skip
    """The last frames (an ERROR, RECEIPTs) and a WebSocket close, for at most
    ``_FLUSH_S``; a client that reads nothing meanwhile is cut off (its unsent frames
    would otherwise hold the connection, and the listener's drain, forever)."""
    try:
        async with asyncio.timeout(_FLUSH_S):
            await asyncio.shield(writer)
            await ws.close()
    except TimeoutError:
        writer.cancel()
        if request.transport is not None:
            request.transport.abort()


def add_stomp_routes(app: web.Application) -> None:
    app.router.add_get("/stomp", stomp)
