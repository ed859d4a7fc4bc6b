"""Karapace's operational routes, for tooling written against Karapace: ``GET /_health``
(this broker's registry: caught up, its offsets, whether it is the writer) and ``GET
/master_available`` (whether the cluster's registry has a writer now). Answered by this
broker alone; the broker's own health is the admin listener's (``/v1/health``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logd.frontends.registry.http import reply
from logd.frontends.registry.read_routes import STORE

__all__ = ["add_health_routes"]

_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate"}


async def health(request: web.Request) -> web.Response:
    """200 with Karapace's ``status`` fields while the tail applies `_schemas`; 503 if it
    stopped. ``schema_registry_ready``: this broker's copy has caught up at least once."""
    store = request.app[STORE]
    leadership = await store.log.leadership()
    announced = store.state.writer
    writer_url = (
        announced[1] if announced and leadership and announced[0] == leadership[0] else None
    )
    status: dict[str, Any] = {
        "schema_registry_ready": store.ready_after_s is not None,
        "schema_registry_startup_time_sec": store.ready_after_s or 0.0,
        "schema_registry_reader_current_offset": store.applied - 1,
        "schema_registry_reader_highest_offset": store.log.high_watermark - 1,
        "schema_registry_is_primary": leadership is not None and leadership[0] == store.log.node_id,
        "schema_registry_is_primary_eligible": True,
        "schema_registry_primary_url": writer_url,
        "schema_registry_coordinator_running": True,
        "schema_registry_coordinator_generation_id": leadership[1] if leadership else -1,
    }
    healthy = store.tailing
    return reply({"status": status, "healthy": healthy}, 200 if healthy else 503)


async def master_available(request: web.Request) -> web.Response:
    """``{"master_available": …}``: `_schemas` has a leader, so writes can be made."""
    leadership = await request.app[STORE].log.leadership()
    response = reply({"master_available": leadership is not None})
    response.headers.update(_NO_CACHE)
    return response


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/_health", health)
    app.router.add_get("/master_available", master_available)
