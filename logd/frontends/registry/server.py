"""The registry listener: an aiohttp server on the broker's event loop (DESIGN.md
``--registry-listen``, default 127.0.0.1:8081), one :class:`RegistryFrontEnd` per broker,
plugged into the node as ``logd.node.frontends.FrontEnd``.

Start: bind (port 0: any free port), serve -- HTTPS with the broker's ``--tls-*`` files
when TLS is on (reloaded when they change) -- then start the store's tail. Who may do what:
``auth``. Drain: stop accepting connections; a request arriving on an open
keep-alive connection is answered 50003 (retry elsewhere). Stop: let the requests in flight
finish until the grace deadline, then cancel them, close the connections, stop the tail.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from logd.broker.seam import BrokerSeam
from logd.errors import InvalidConfigError
from logd.frontends.registry.auth import SEAM, RegistryAuth
from logd.frontends.registry.health_routes import add_health_routes
from logd.frontends.registry.http import MAX_BODY_BYTES, Handler, error_middleware
from logd.frontends.registry.read_routes import STORE, add_read_routes
from logd.frontends.registry.schema_log import SchemaLog
from logd.frontends.registry.store import SchemaStore
from logd.frontends.registry.write_routes import add_write_routes
from logd.metadata.types import HostPort
from logd.registry.errors import WriterUnavailableError
from logd.tls.contexts import ReloadingServerContext, client_context
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["LISTENER", "RegistryFrontEnd", "build_app"]

LISTENER = "registry"


def build_app(store: SchemaStore, seam: BrokerSeam, *extra: Middleware) -> web.Application:
    """The registry's routes over ``store``; ``extra`` middlewares run inside the error
    boundary (so what they raise is answered like any registry error), in order."""
    app = web.Application(
        middlewares=[_count, error_middleware, *extra], client_max_size=MAX_BODY_BYTES
    )
    app[STORE] = store
    app[SEAM] = seam
    add_read_routes(app)
    add_write_routes(app)
    add_health_routes(app)
    return app


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a malformed request (a bad request line, no Host, a bad chunk) at ERROR
    with its traceback; a client's mistake is one INFO line. Anything else aiohttp logs (a
    bug of ours escaping the error boundary) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            first = str(error).strip().splitlines()
            record.msg = f"registry: bad request: {first[0] if first else type(error).__name__}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_server_log = logging.getLogger(__name__ + ".aiohttp")
_server_log.addFilter(_OneLineBadRequests())


@web.middleware
async def _count(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request boundary's one report to the broker's figures (``logd.broker.telemetry``):
    named by method and route pattern (``POST /subjects/{subject}/versions``), so the names
    are the routes' few; an error is any answer of 400 or more, as Kafka's count theirs."""
    started = time.perf_counter()
    status, sent = 500, 0
    try:
        response = await handler(request)
        status, sent = response.status, response.content_length or 0
        return response
    finally:
        route = request.match_info.route.resource
        name = f"{request.method} {route.canonical}" if route is not None else "unrouted"
        request.app[SEAM].telemetry.request(
            LISTENER, name, started, request.content_length or 0, sent, error=status >= 400
        )


class _Full(asyncio.Protocol):
    """A connection over the bound: a 503 in Confluent's error form, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = b'{"error_code":50302,"message":"too many connections to this registry"}'
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(head.encode() + body)
        transport.close()


class RegistryFrontEnd:
    """The schema registry's HTTP listener on one broker."""

    name = LISTENER

    def __init__(
        self,
        address: HostPort,
        seam: BrokerSeam,
        tls: TlsSettings | None = None,
        *,
        max_connections: int = 4096,
    ) -> None:
        self.address = address
        #: Open connections beyond this get a 503 and are closed (the broker's
        #: ``max.connections``, per listener).
        self.max_connections = max_connections
        self._seam = seam
        self._tls = tls if tls is not None and tls.enabled else None
        self._context: ReloadingServerContext | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._draining = False
        self.store: SchemaStore | None = None

    async def start(self) -> HostPort:
        """Bind and serve; the address bound."""
        try:
            sock = socket.create_server((self.address.host, self.address.port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise InvalidConfigError(
                f"registry.listen: cannot listen on {self.address}: {reason}"
            ) from exc
        host, port = sock.getsockname()[:2]
        bound = HostPort(host, port)
        if self._tls is not None:
            self._context = ReloadingServerContext(TlsFiles(self._tls))
        scheme = "https" if self._tls is not None else "http"
        forwarding = client_context(self._tls, check_hostname=False) if self._tls else None
        self.store = SchemaStore(SchemaLog(self._seam), f"{scheme}://{bound}", forwarding)
        auth = RegistryAuth(self._seam, tls=self._tls is not None)
        app = build_app(self.store, self._seam, self._track, auth.authenticate, auth.authorize)
        self._runner = web.AppRunner(app, access_log=None, logger=_server_log)
        await self._runner.setup()
        ssl_context = self._context.context if self._context is not None else None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, sock=sock, ssl=ssl_context)
        await self.store.start()
        return bound

    def _protocol(self) -> asyncio.BaseProtocol:
        """A new connection's protocol: aiohttp's, unless the listener is full."""
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        if sum(1 for c in server.connections if c.transport is not None) >= self.max_connections:
            return _Full()
        return server()

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._draining:
            raise WriterUnavailableError("this broker is shutting down; retry on another")
        if self._context is not None:
            self._context.refresh()  # new certificate files: used from the next handshake
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            return await handler(request)
        finally:
            self._in_flight.discard(task)

    def begin_drain(self) -> None:
        self._draining = True
        if self._server is not None:
            self._server.close()

    async def stop(self, grace_s: float) -> None:
        """Requests in flight get ``grace_s``; then they are cancelled and every connection
        closed. Called again with 0 (a second signal): cancel now."""
        self.begin_drain()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=max(grace_s, 0))
        for task in list(self._in_flight):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()
            await asyncio.sleep(0)  # the closed connections' handler tasks end now
        if self.store is not None:
            await self.store.stop()
