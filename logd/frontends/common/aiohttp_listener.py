"""One aiohttp application served on one listening socket of the broker's event loop: the
set-up the registry, http and admin front ends share.

- Bind: ``socket.create_server`` on the configured address (port 0: any free port); a port
  in use is one line, ``{name}.listen: cannot listen on H:P: the port is in use``
  (InvalidConfigError), never a traceback.
- TLS: the broker's ``--tls-*`` files through a ``ReloadingServerContext``, refreshed as
  each connection arrives (new certificate files are used from the next handshake).
- Connections: at most ``max_connections`` open at once; one more gets ``full_body`` as a
  503 and is closed (aiohttp has no such bound; its handler stays listed until its task
  ends, so only connections with a live transport count).
- Logs: aiohttp logs a malformed request (a bad request line, no Host, a bad chunk, a
  header too long) at ERROR with its traceback; a client's mistake is one INFO line
  ``{name}: bad request: …`` here. Anything else aiohttp logs (a bug of ours escaping the
  front end's error boundary) keeps its traceback.
- Drain and stop: :meth:`track` is the middleware every request passes (after the front
  end's error boundary): while draining it answers the front end's ``refusal`` (or raises
  it, for a front end whose error boundary writes it), else it counts the request in
  flight. ``begin_drain`` stops accepting connections; ``stop(grace)`` lets the requests in
  flight finish until the deadline, then cancels them and closes every connection.

Why not aiohttp's ``TCPSite``/``SockSite``: they give no hook for the connection bound.

Ownership: the broker's event loop; one per front end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from logd.errors import InvalidConfigError
from logd.metadata.types import HostPort
from logd.tls.contexts import ReloadingServerContext
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["AiohttpListener", "Handler", "Refusal", "full_answer"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: What a request gets while the listener drains: a response (None: serve it anyway, e.g.
#: a readiness probe), or it raises for the front end's error boundary to answer.
Refusal = Callable[[web.Request], web.StreamResponse | None]
_CLEANUP_S: Final = 0.5


def full_answer(error_code: int, message: str) -> bytes:
    """A whole HTTP 503 answer (``Connection: close``) in the front ends' error form."""
    body = json.dumps({"error_code": error_code, "message": message}).encode() + b"\n"
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Full(asyncio.Protocol):
    """A connection over the bound: the listener's 503, then closed."""

    def __init__(self, answer: bytes) -> None:
        self._answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport writes but is no asyncio.WriteTransport subclass.
        transport.write(self._answer)  # type: ignore[attr-defined]
        transport.close()


class _OneLineBadRequests(logging.Filter):
    """See the module docstring (Logs)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            first = str(error).strip().splitlines()
            what = first[0] if first else type(error).__name__
            record.msg = f"{self._name}: bad request: {what}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _server_log(name: str) -> logging.Logger:
    log = logging.getLogger(f"logd.frontends.{name}.aiohttp")
    if not any(isinstance(f, _OneLineBadRequests) for f in log.filters):
        log.addFilter(_OneLineBadRequests(name))
    return log


class AiohttpListener:
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        address: HostPort,
        tls: TlsSettings | None,
        *,
        max_connections: int,
        full_body: bytes,
        refusal: Refusal,
        keepalive_s: float = 75.0,
        auto_decompress: bool = True,
    ) -> None:
        self.name = name
        self.address = address
        #: Open connections beyond this get ``full_body`` and are closed.
        self.max_connections = max_connections
        self._tls = tls if tls is not None and tls.enabled else None
        self._full = full_body
        self._refusal = refusal
        self._runner_options: dict[str, Any] = {
            "keepalive_timeout": keepalive_s, "auto_decompress": auto_decompress,
        }  # fmt: skip
        self._ssl: ReloadingServerContext | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self.draining = False

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    def bind(self) -> socket.socket:
        """The listening socket (see Bind in the module docstring)."""
        try:
            return socket.create_server((self.address.host, self.address.port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise InvalidConfigError(
                f"{self.name}.listen: cannot listen on {self.address}: {reason}"
            ) from None

    async def start(self, app: web.Application, sock: socket.socket | None = None) -> HostPort:
        """Serve ``app`` on ``sock`` (None: bind now); the address bound."""
        sock = sock if sock is not None else self.bind()
        if self._tls is not None:
            self._ssl = ReloadingServerContext(TlsFiles(self._tls))
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            logger=_server_log(self.name),
            shutdown_timeout=_CLEANUP_S,
            **self._runner_options,
        )
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        ssl_context = self._ssl.context if self._ssl is not None else None
        self._server = await loop.create_server(self._protocol, sock=sock, ssl=ssl_context)
        host, port = sock.getsockname()[:2]
        return HostPort(str(host), int(port))

    def _protocol(self) -> asyncio.BaseProtocol:
        """A new connection's protocol: aiohttp's, unless the listener is full."""
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        if sum(1 for c in server.connections if c.transport is not None) >= self.max_connections:
            return _Full(self._full)
        if self._ssl is not None:
            self._ssl.refresh()
        return server()

    @web.middleware
    async def track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The drain and the requests in flight (see the module docstring)."""
        if self.draining:
            refused = self._refusal(request)
            if refused is not None:
                return refused
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            return await handler(request)
        finally:
            self._in_flight.discard(task)

    def begin_drain(self) -> None:
        self.draining = True
        if self._server is not None:
            self._server.close()

    async def stop(self, grace_s: float) -> None:
        """Requests in flight get ``grace_s``; then they are cancelled and every connection
        closed. Called again with 0 (a second signal): cancel now."""
        self.begin_drain()
        pending = {t for t in self._in_flight if not t.done()}
        if pending and grace_s > 0:
            await asyncio.wait(pending, timeout=grace_s)
        for task in list(self._in_flight):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()
            await asyncio.sleep(0)  # the closed connections' handler tasks end now
