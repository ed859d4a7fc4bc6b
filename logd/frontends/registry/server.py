"""The registry listener: an aiohttp server on the broker's event loop (DESIGN.md
``--registry-listen``, default 127.0.0.1:8081), one :class:`RegistryFrontEnd` per broker,
plugged into the node as ``logd.node.frontends.FrontEnd``.

Start: bind (port 0: any free port), serve -- HTTPS with the broker's ``--tls-*`` files
when TLS is on (reloaded when they change) -- then start the store's tail; the listener's
set-up, connection bound and drain are ``logd.frontends.common.aiohttp_listener``'s. Who
may do what: ``auth``. Drain: stop accepting connections; a request arriving on an open
keep-alive connection is answered 50003 (retry elsewhere). Stop: let the requests in flight
finish until the grace deadline, then cancel them, close the connections, stop the tail.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Middleware

from logd.broker.seam import BrokerSeam
from logd.frontends.common.aiohttp_listener import AiohttpListener, full_answer
from logd.frontends.registry.auth import SEAM, RegistryAuth
from logd.frontends.registry.health_routes import add_health_routes
from logd.frontends.registry.http import MAX_BODY_BYTES, Handler, error_middleware
from logd.frontends.registry.read_routes import STORE, add_read_routes
from logd.frontends.registry.schema_log import SchemaLog
from logd.frontends.registry.store import SchemaStore
from logd.frontends.registry.write_routes import add_write_routes
from logd.metadata.types import HostPort
from logd.registry.errors import WriterUnavailableError
from logd.tls.contexts import client_context
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


def _refuse(request: web.Request) -> web.StreamResponse | None:
    """A request on a kept-alive connection after the drain began: 50003, retry elsewhere
    (raised, so the error boundary answers it in Confluent's form)."""
    raise WriterUnavailableError("this broker is shutting down; retry on another")


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
        self._seam = seam
        self._tls = tls if tls is not None and tls.enabled else None
        #: Open connections beyond the broker's ``max.connections`` (per listener) get a
        #: 503 and are closed.
        self.listener = AiohttpListener(
            LISTENER, address, tls, max_connections=max_connections,
            full_body=full_answer(50302, "too many connections to this registry"),
            refusal=_refuse,
        )  # fmt: skip
        self.store: SchemaStore | None = None

    @property
    def max_connections(self) -> int:
        return self.listener.max_connections

    async def start(self) -> HostPort:
        """Bind and serve; the address bound."""
        sock = self.listener.bind()
        host, port = sock.getsockname()[:2]
        bound = HostPort(host, port)
        forwarding = client_context(self._tls, check_hostname=False) if self._tls else None
        self.store = SchemaStore(
            SchemaLog(self._seam), f"{self.listener.scheme}://{bound}", forwarding
        )
        auth = RegistryAuth(self._seam, tls=self._tls is not None)
        app = build_app(
            self.store, self._seam, self.listener.track, auth.authenticate, auth.authorize
        )
        await self.listener.start(app, sock)
        await self.store.start()
        return bound

    def begin_drain(self) -> None:
        self.listener.begin_drain()

    async def stop(self, grace_s: float) -> None:
        """Requests in flight get ``grace_s``; then they are cancelled and every connection
        closed. Called again with 0 (a second signal): cancel now."""
        await self.listener.stop(grace_s)
        if self.store is not None:
            await self.store.stop()
