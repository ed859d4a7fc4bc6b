"""The console's JSON API for the cluster and its topics, each route one seam call or two:

* ``GET /api/cluster`` -- brokers, controller, health, this broker's running totals (the
  overview's throughput sparkline samples them);
* ``GET /api/topics`` -- every topic with its partitions, replication factor and the
  partitions short of in-sync replicas; ``POST /api/topics`` ``{"name", "partitions",
  "replication_factor", "configs": {k: v}}`` creates one;
* ``GET /api/topics/{name}`` -- partitions (leader, epoch, replicas, ISR, log start, high
  watermark, bytes here) and configs; ``DELETE`` deletes it;
* ``POST /api/topics/{name}/partitions`` ``{"total": N}``; ``PUT /api/topics/{name}/configs``
  ``{"set": {k: v}, "delete": [k]}``.

A per-item failure comes back as the answer's LogdError and is raised, so the server's
error boundary answers it (404 unknown topic, 409 exists, 400 invalid …).

Ownership: the broker's event loop.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from logd.broker.api import NewTopic
from logd.broker.seam import BrokerSeam
from logd.errors import InvalidRequestError, LogdError
from logd.frontends.admin.auth import CALLER

__all__ = ["add_cluster_route", "add_topic_routes", "json_object"]

#: The most a console form may send (topic names and configs are small).
MAX_JSON_BYTES: Final = 64 * 1024


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object; InvalidRequestError otherwise."""
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidRequestError(f"the body is over {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(raw or b"{}")
    except ValueError as exc:
        raise InvalidRequestError(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return value


def _int(value: Any, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequestError(f"{what} must be an integer ≥ {low}")
    return value


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidRequestError(f"{what} must be an object of strings")
    return value


def _raise(error: LogdError | None) -> None:
    if error is not None:
        raise error


def add_cluster_route(app: web.Application, seam: BrokerSeam) -> None:
    async def cluster(request: web.Request) -> web.Response:
        caller = request[CALLER]
        described = await seam.describe_cluster(caller=caller)
        figures = await seam.figures(groups=False, caller=caller)
        t = seam.telemetry
        return web.json_response({
            "cluster_id": described.cluster_id,
            "node_id": described.node_id,
            "controller_id": described.controller_id,
            "brokers": [
                {"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
                 "alive": b.alive}
                for b in described.brokers
            ],
            "healthy": figures.healthy,
            "topics": figures.topics,
            "partitions": figures.partitions,
            "leaderless": len(figures.leaderless),
            "under_replicated": len(figures.under_replicated),
            "leaders_here": figures.leaders_here,
            "disk_free_bytes": figures.disk_free_bytes,
            "disk_total_bytes": figures.disk_total_bytes,
            "records_produced": t.records_produced,
            "records_fetched": t.records_fetched,
            "bytes_produced": t.bytes_produced,
            "bytes_fetched": t.bytes_fetched,
        })  # fmt: skip

    app.router.add_get("/api/cluster", cluster)


def add_topic_routes(app: web.Application, seam: BrokerSeam) -> None:
    add_cluster_route(app, seam)

    async def list_topics(request: web.Request) -> web.Response:
        caller = request[CALLER]
        internal = request.query.get("internal") == "true"
        listed = await seam.list_topics(include_internal=internal, caller=caller)
        figures = await seam.figures(groups=False, caller=caller)
        short: dict[str, int] = {}
        for name in figures.under_replicated:
            topic = name.rpartition("/")[0]
            short[topic] = short.get(topic, 0) + 1
        return web.json_response([
            {"name": t.name, "partitions": t.partitions,
             "replication_factor": t.replication_factor, "internal": t.internal,
             "under_replicated": short.get(t.name, 0),
             "bytes_here": figures.log_bytes.get(t.name, 0)}
            for t in sorted(listed, key=lambda t: t.name)
        ])  # fmt: skip

    async def create_topic(request: web.Request) -> web.Response:
        body = await json_object(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise InvalidRequestError("name must be a string")
        new = NewTopic(
            name,
            _int(body.get("partitions", 0), "partitions"),
            _int(body.get("replication_factor", 0), "replication_factor"),
            _strings(body.get("configs", {}), "configs"),
        )
        (result,) = await seam.create_topics([new], caller=request[CALLER])
        _raise(result.error)
        return web.json_response({"name": name, "created": True}, status=201)

    async def describe_topic(request: web.Request) -> web.Response:
        caller = request[CALLER]
        name = request.match_info["name"]
        (topic,) = await seam.describe_topics([name], caller=caller)
        _raise(topic.error)
        figures = await seam.figures(groups=False, detail=True, caller=caller)
        sizes = {p.partition: p.log_bytes for p in figures.hosted if p.topic == name}
        return web.json_response({
            "name": topic.name,
            "internal": topic.internal,
            "partitions": [
                {"partition": p.partition, "leader": p.leader_id, "epoch": p.leader_epoch,
                 "replicas": list(p.replicas), "isr": list(p.isr),
                 "log_start_offset": p.log_start_offset, "high_watermark": p.high_watermark,
                 "bytes_here": sizes.get(p.partition)}
                for p in topic.partitions
            ],
            "configs": [
                {"name": c.name, "value": c.value, "default": c.is_default}
                for c in topic.configs
            ],
        })  # fmt: skip

    async def delete_topic(request: web.Request) -> web.Response:
        (result,) = await seam.delete_topics([request.match_info["name"]], caller=request[CALLER])
        _raise(result.error)
        return web.json_response({"name": result.name, "deleted": True})

    async def add_partitions(request: web.Request) -> web.Response:
        body = await json_object(request)
        total = _int(body.get("total"), "total", 1)
        name = request.match_info["name"]
        result = await seam.create_partitions(name, total, caller=request[CALLER])
        _raise(result.error)
        return web.json_response({"name": name, "partitions": total})

    async def alter_configs(request: web.Request) -> web.Response:
        body = await json_object(request)
        changes = _strings(body.get("set", {}), "set")
        delete = body.get("delete", [])
        if not isinstance(delete, list) or not all(isinstance(k, str) for k in delete):
            raise InvalidRequestError("delete must be a list of config names")
        name = request.match_info["name"]
        result = await seam.alter_configs(name, changes, delete, caller=request[CALLER])
        _raise(result.error)
        return web.json_response({"name": name, "altered": True})

    app.router.add_get("/api/topics", list_topics)
    app.router.add_post("/api/topics", create_topic)
    app.router.add_get("/api/topics/{name}", describe_topic)
    app.router.add_delete("/api/topics/{name}", delete_topic)
    app.router.add_post("/api/topics/{name}/partitions", add_partitions)
    app.router.add_put("/api/topics/{name}/configs", alter_configs)
