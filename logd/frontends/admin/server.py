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
import logging
import time
from typing import Final

from aiohttp import web

from logd.broker.seam import BrokerSeam
from logd.errors import LogdError
from logd.frontends.admin.api_groups import add_group_routes
from logd.frontends.admin.api_messages import add_message_routes
from logd.frontends.admin.api_security import add_security_routes
from logd.frontends.admin.api_topics import add_topic_routes
from logd.frontends.admin.auth import CALLER, LISTENER, caller_of, error_response
from logd.frontends.admin.console import add_console_routes
from logd.frontends.admin.health import add_health_routes
from logd.frontends.admin.metrics import CONTENT_TYPE, MetricsPage
from logd.frontends.admin.schemas import NO_REGISTRY, SchemaSource, add_schema_routes
from logd.frontends.common.aiohttp_listener import AiohttpListener, Handler, full_answer
from logd.metadata.types import HostPort
from logd.tls.settings import TlsSettings

__all__ = ["SEAM", "AdminFrontEnd"]

_log = logging.getLogger(__name__)

#: Where the app keeps its seam.
SEAM: Final = web.AppKey("logd_seam", BrokerSeam)
MAX_BODY_BYTES: Final = 1 << 20
MAX_CONNECTIONS: Final = 256
KEEPALIVE_S: Final = 75.0
#: Routes answered without credentials.
_OPEN: Final = frozenset({"/v1/ready"})


def _refuse(request: web.Request) -> web.StreamResponse | None:
    """A request while draining: 503 and its connection closed (``/v1/ready`` answers)."""
    if request.path in _OPEN:
        return None
    refused = web.json_response(
        {"error_code": -1, "message": "this broker is shutting down"}, status=503
    )
    refused.force_close()
    return refused


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
        self._metrics = MetricsPage(seam)
        self.listener = AiohttpListener(
            "admin", address, tls, max_connections=MAX_CONNECTIONS,
            full_body=full_answer(-1, "too many connections to this listener"),
            refusal=_refuse, keepalive_s=KEEPALIVE_S,
        )  # fmt: skip
        #: Set when draining: long answers (a live tail) end early.
        self.draining = asyncio.Event()

    # -- the application ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self.listener.track, self._auth],
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
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _OPEN:
            request[CALLER] = await caller_of(request, self._seam)
        return await handler(request)

    # -- FrontEnd -----------------------------------------------------------------------------

    async def start(self) -> HostPort:
        """Bind (port 0: any free port) and serve; the address bound."""
        bound = await self.listener.start(self.build_app())
        _log.info("admin: metrics, health and the console on %s://%s", self.listener.scheme, bound)
        return bound

    def begin_drain(self) -> None:
        if self.draining.is_set():
            return
        self.draining.set()
        self.listener.begin_drain()

    async def stop(self, grace_s: float) -> None:
        """See the module docstring. Called again with 0 (a second signal): cancel now."""
        self.begin_drain()
        await self.listener.stop(grace_s)
