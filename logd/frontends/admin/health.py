"""``/v1/health`` and ``/v1/ready``: what load balancers and Kubernetes probes ask.

``/v1/health`` gives the answer of ``logd cluster health --format json`` asked of this
broker -- ``healthy``, ``controller_id``, ``nodes``, ``nodes_down``, ``leaderless``,
``under_replicated`` (``topic/partition`` names), ``degraded`` and ``low_space`` (node id ->
why) -- with status 200 while healthy and 503 while not (a controller missing, a broker down
or degraded, a partition leaderless or short of in-sync replicas), so a probe needs only
the status.

``/v1/ready``: 200 while this broker serves, 503 once it drains (shutting down), so a load
balancer stops sending it requests before it goes. It needs no credentials and says
nothing else.

Ownership: the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from logd.broker.seam import BrokerFigures, BrokerSeam
from logd.frontends.admin.auth import CALLER

__all__ = ["add_health_routes", "health_body"]


def health_body(figures: BrokerFigures) -> dict[str, Any]:
    """The JSON of ``logd cluster health --format json``."""
    return {
        "healthy": figures.healthy,
        "controller_id": figures.controller_id,
        "nodes": sorted(figures.brokers),
        "nodes_down": figures.nodes_down,
        "leaderless": list(figures.leaderless),
        "under_replicated": list(figures.under_replicated),
        # JSON's keys are strings: the CLI's dict of node id -> reason reads the same.
        "degraded": {str(n): why for n, why in sorted(figures.degraded.items())},
        "low_space": {str(n): why for n, why in sorted(figures.low_space.items())},
    }


def add_health_routes(app: web.Application, seam: BrokerSeam, draining: Callable[[], bool]) -> None:
    async def health(request: web.Request) -> web.Response:
        figures = await seam.figures(groups=False, caller=request[CALLER])
        return web.json_response(health_body(figures), status=200 if figures.healthy else 503)

    async def ready(request: web.Request) -> web.Response:
        serving = not (draining() or seam.draining)
        return web.json_response({"ready": serving}, status=200 if serving else 503)

    app.router.add_get("/v1/health", health)
    app.router.add_get("/v1/ready", ready)
