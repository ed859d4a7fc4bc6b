"""The admin listener (DESIGN.md ``--admin-listen``, default 127.0.0.1:9644): ``/metrics``,
``/v1/health``, ``/v1/ready`` and the web console at ``/`` (its JSON API under ``/api/``),
on aiohttp on the broker's event loop. One :class:`AdminFrontEnd` per broker, plugged into
the node as a ``logd.node.frontends.FrontEnd``.

Every request passes, outermost first: the error boundary (a ``LogdError`` becomes one JSON
body with a fitting status, ``auth.error_response``; anything else is logged and answered
500), the drain (a request arriving while the listener drains is answered 503 and its
connection closed), authentication (``auth.caller_of``: the caller, or 401), then its
route, which calls the seam with that caller. ``/v1/ready`` alone needs no credentials: it
tells nothing but whether this broker serves.

Limits: bodies of at most :data:`MAX_BODY_BYTES`, at most :data:`MAX_CONNECTIONS`
connections (more are answered 503 and closed), idle keep-alive connections closed after
:data:`KEEPALIVE_S`; header sizes and counts bounded by aiohttp. TLS with the broker's
reloading certificates (``--tls-*``), as every listener.

Shutdown (STYLE.md 14): ``begin_drain`` stops accepting connections and answers new requests
503 (``/v1/ready`` says not ready); ``stop(grace)`` lets requests in flight finish until the
deadline (a live tail ends at once), then cancels them and closes every connection.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from logd.broker.seam import BrokerSeam
from logd.errors import InvalidConfigError, LogdError
from logd.frontends.admin.api_groups import add_group_routes
from logd.frontends.admin.api_messages import add_message_routes
from logd.frontends.admin.api_security import add_security_routes
from logd.frontends.admin.api_topics import add_topic_routes
from logd.frontends.admin.auth import CALLER, LISTENER, caller_of, error_response
from logd.frontends.admin.console import add_console_routes
from logd.frontends.admin.health import add_health_routes
from logd.frontends.admin.metrics import CONTENT_TYPE, MetricsPage
from logd.frontends.admin.schemas import NO_REGISTRY, SchemaSource, add_schema_routes
from logd.metadata.types import HostPort
from logd.tls.contexts import ReloadingServerContext
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["SEAM", "AdminFrontEnd"]

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Where the app keeps its seam.
SEAM: Final = web.AppKey("logd_seam", BrokerSeam)
MAX_BODY_BYTES: Final = 1 << 20
MAX_CONNECTIONS: Final = 256
KEEPALIVE_S: Final = 75.0
_CLEANUP_S: Final = 0.5
#: Routes answered without credentials.
_OPEN: Final = frozenset({"/v1/ready"})


class _Refuse(asyncio.Protocol):
    """What a connection over :data:`MAX_CONNECTIONS` gets: a 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        body = b'{"error_code":-1,"message":"too many connections to this listener"}\n'
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        transport.close()


class AdminFrontEnd:
    """See the module docstring."""

    name = "admin"

    def __init__(
        self,
        address: HostPort,
        seam: BrokerSeam,
        *,
        tls: TlsSettings | None = None,
        schemas: SchemaSource = NO_REGISTRY,
    ) -> None:
        self.address = address
        self._seam = seam
        self._schemas = schemas
        self._tls = tls if tls is not None and tls.enabled else None
        self._metrics = MetricsPage(seam)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ssl: ReloadingServerContext | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        #: Set when draining: long answers (a live tail) end early.
        self.draining = asyncio.Event()

    # -- the application ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self._track, self._auth],
            client_max_size=MAX_BODY_BYTES,
        )
        app[SEAM] = self._seam
        app.router.add_get("/metrics", self._metrics_route)
        add_health_routes(app, self._seam, self.draining.is_set)
        add_topic_routes(app, self._seam)
        add_message_routes(app, self._seam, self.draining, self._schemas)
        add_group_routes(app, self._seam)
        add_security_routes(app, self._seam)
        add_schema_routes(app, self._seam, self._schemas)
        add_console_routes(app)
        return app

    async def _metrics_route(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        detail = request.query.get("detail") == "partitions"
        body = await self._metrics.render(request[CALLER], detail=detail)
        response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
        self._seam.telemetry.request(LISTENER, "metrics", started, 0, len(body))
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except LogdError as exc:
            return error_response(exc)
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("admin: %s %s failed", request.method, request.path)
            return web.json_response(
                {"error_code": -1, "message": "internal error; the broker's log has details"},
                status=500,
            )

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.draining.is_set() and request.path not in _OPEN:
            refused = web.json_response(
                {"error_code": -1, "message": "this broker is shutting down"}, status=503
            )
            refused.force_close()
            return refused
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            return await handler(request)
        finally:
            self._in_flight.discard(task)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _OPEN:
            request[CALLER] = await caller_of(request, self._seam)
        return await handler(request)

    # -- FrontEnd -----------------------------------------------------------------------------

    async def start(self) -> HostPort:
        """Bind (port 0: any free port) and serve; the address bound."""
        try:
            sock = socket.create_server((self.address.host, self.address.port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise InvalidConfigError(
                f"admin.listen: cannot listen on {self.address}: {reason}"
            ) from None
        if self._tls is not None:
            self._ssl = ReloadingServerContext(TlsFiles(self._tls))
        runner = web.AppRunner(
            self.build_app(),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=KEEPALIVE_S,
            shutdown_timeout=_CLEANUP_S,
        )
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, sock=sock, ssl=self._ssl.context if self._ssl else None
        )
        host, port = sock.getsockname()[:2]
        scheme = "https" if self._ssl is not None else "http"
        _log.info("admin: metrics, health and the console on %s://%s:%s", scheme, host, port)
        return HostPort(str(host), int(port))

    def _protocol(self) -> asyncio.BaseProtocol:
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        if len(server.connections) >= MAX_CONNECTIONS:
            return _Refuse()
        if self._ssl is not None:
            self._ssl.refresh()
        return server()

    def begin_drain(self) -> None:
        if self.draining.is_set():
            return
        self.draining.set()
        if self._server is not None:
            self._server.close()

    async def stop(self, grace_s: float) -> None:
        """See the module docstring. Called again with 0 (a second signal): cancel now."""
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
