"""The HTTP listener (DESIGN.md ``--http-listen``, default 127.0.0.1:8082): Confluent's REST
Proxy v2 and v3 produce, STOMP over WebSocket at ``/stomp``, and the routes other front ends
mount (``mounts.py``), on aiohttp on the broker's event loop. One :class:`HttpFrontEnd` per
broker, plugged into the node as ``logd.node.frontends.FrontEnd``.

Every request passes, outermost first: CORS (a preflight is answered here), the error
boundary (``plumbing.error_middleware``), request tracking and the drain (a request arriving
while the listener drains is answered 503/50003 and its connection closed), mounted routes,
then authentication (``auth.py``: the caller, or 401) for the listener's own routes.

Production limits: bodies of at most ``http.max.request.bytes``, as sent and inflated
(``plumbing.inflate``: ``Content-Encoding: gzip``/``deflate``; a compressed bomb stops at
the limit: 413; another encoding: 415), read within ``http.request.timeout.ms`` (408);
header lines and counts bounded by aiohttp (8190 bytes, 128 headers: 400/431); idle
keep-alive connections closed after ``http.keepalive.timeout.s``; at most
``http.max.connections`` connections (more are answered 503 and closed); TLS with the
broker's reloading certificates (``--tls-*``).

Shutdown (STYLE.md 14): ``begin_drain`` stops accepting connections and marks the listener
draining (new requests 503, WebSocket sessions end with an ERROR frame, streaming produce
stops reading); ``stop(grace)`` lets the requests in flight finish until the deadline, then
cancels them, destroys the consumer instances (leaving their groups) and closes every
connection.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from logd.broker.seam import BrokerSeam
from logd.clock import Clock, SystemClock
from logd.frontends.common.aiohttp_listener import AiohttpListener, full_answer
from logd.frontends.http.auth import CALLER, caller_of
from logd.frontends.http.consumers.instances import ConsumerInstances
from logd.frontends.http.consumers.routes import add_consumer_routes
from logd.frontends.http.context import CONTEXT, HttpContext
from logd.frontends.http.errors import KAFKA_RETRIABLE, RestError
from logd.frontends.http.mounts import HttpMounts
from logd.frontends.http.plumbing import (
    Handler,
    cors_headers,
    cors_preflight,
    error_middleware,
    error_response,
)
from logd.frontends.http.produce_v2 import add_produce_v2_routes
from logd.frontends.http.produce_v3 import add_produce_v3_routes
from logd.frontends.http.producer import TopicProducer
from logd.frontends.http.schemas import RegistryLink
from logd.frontends.http.settings import HttpSettings
from logd.frontends.http.stomp import add_stomp_routes
from logd.frontends.http.topics import add_topic_routes
from logd.metadata.types import HostPort
from logd.tls.contexts import client_context
from logd.tls.settings import TlsSettings

__all__ = ["HttpFrontEnd"]

_log = logging.getLogger(__name__)
#: The listener's name in the telemetry's labels.
LISTENER: Final = "http"
#: Paths whose handlers authenticate by themselves (STOMP's CONNECT carries login/passcode).
_SELF_AUTHENTICATED: Final = frozenset({"/stomp"})


def _refuse(request: web.Request) -> web.StreamResponse:
    """A request while draining: 503/50003 and its connection closed."""
    refused = error_response(
        RestError(503, KAFKA_RETRIABLE, "this broker is shutting down; retry on another")
    )
    refused.force_close()
    return refused


class HttpFrontEnd:
    """See the module docstring."""

    name = "http"

    def __init__(
        self,
        address: HostPort,
        seam: BrokerSeam,
        settings: HttpSettings | None = None,
        *,
        tls: TlsSettings | None = None,
        mounts: HttpMounts | None = None,
        clock: Clock | None = None,
        registry_url: Callable[[], str | None] | None = None,
    ) -> None:
        self.address = address
        self.settings = settings or HttpSettings()
        self.mounts = mounts or HttpMounts()
        self._seam = seam
        self._tls = tls if tls is not None and tls.enabled else None
        clock = clock or SystemClock()
        producer = TopicProducer(
            seam,
            clock,
            acks=self.settings.producer_acks,
            timeout_ms=self.settings.request_timeout_ms,
            auto_create=self.settings.auto_create_topics,
        )
        consumers = ConsumerInstances(
            seam,
            clock,
            timeout_ms=self.settings.consumer_instance_timeout_ms,
            max_instances=self.settings.consumer_max_instances,
        )
        configured = self.settings.schema_registry_url
        schemas = RegistryLink(
            (lambda: configured) if configured else (registry_url or (lambda: None)),
            client_context(self._tls, check_hostname=False) if self._tls else None,
            timeout_s=self.settings.request_timeout_ms / 1000.0,
        )
        self.context = HttpContext(seam, self.settings, clock, producer, consumers, schemas)
        self.listener = AiohttpListener(
            LISTENER, address, tls, max_connections=self.settings.max_connections,
            full_body=full_answer(50301, "too many connections to this listener"),
            refusal=_refuse, keepalive_s=float(self.settings.keepalive_timeout_s),
            auto_decompress=False,  # plumbing.inflate: bounded, errors in Confluent's form
        )  # fmt: skip

    @property
    def draining(self) -> bool:
        return self.context.draining

    # -- the application ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self._cors,
                self._count,
                error_middleware,
                self.listener.track,
                self._mounted,
                self._auth,
            ],
            client_max_size=self.settings.max_request_bytes,
        )
        app[CONTEXT] = self.context
        app.on_response_prepare.append(self._on_prepare)
        add_topic_routes(app)
        add_produce_v2_routes(app)
        add_consumer_routes(app)
        add_produce_v3_routes(app)
        add_stomp_routes(app)
        return app

    @web.middleware
    async def _cors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        preflight = cors_preflight(self.settings, request)
        return preflight if preflight is not None else await handler(request)

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The request boundary's one report to the broker's figures (issue 20,
        ``logd.broker.telemetry``): named by method and route pattern (``POST
        /topics/{topic}``), an error being an answer of 400 or more. A WebSocket session
        (STOMP, MQTT) is a connection, not a request: not timed here."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        started = time.perf_counter()
        status, sent = 500, 0
        try:
            response = await handler(request)
            status, sent = response.status, response.content_length or 0
            return response
        finally:
            resource = request.match_info.route.resource
            name = f"{request.method} {resource.canonical}" if resource is not None else "unrouted"
            self._seam.telemetry.request(
                LISTENER, name, started, request.content_length or 0, sent, error=status >= 400
            )

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        cors_headers(self.settings, request, response)

    @web.middleware
    async def _mounted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        mounted = self.mounts.handler(request.path)
        return await (mounted or handler)(request)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _SELF_AUTHENTICATED:
            request[CALLER] = await caller_of(request, self._seam)
        return await handler(request)

    # -- FrontEnd -----------------------------------------------------------------------------

    async def start(self) -> HostPort:
        """Bind (port 0: any free port) and serve; the address bound."""
        bound = await self.listener.start(self.build_app())
        _log.info("http: REST proxy and STOMP on %s://%s", self.listener.scheme, bound)
        return bound

    def begin_drain(self) -> None:
        if self.context.draining:
            return
        self.context.draining = True
        self.context.drained.set()
        self.listener.begin_drain()

    async def stop(self, grace_s: float) -> None:
        """See the module docstring. Called again with 0 (a second signal): cancel now."""
        self.begin_drain()
        await self.listener.stop(grace_s)
        await self.context.consumers.close()
        await self.context.schemas.close()
