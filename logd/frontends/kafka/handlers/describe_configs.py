"""DescribeConfigs (key 32, v1-4): every config of a topic with its value and source --
DEFAULT_CONFIG (5) for a default, DYNAMIC_TOPIC_CONFIG (1) for an override -- and, when
asked (v1+), its synonyms (the override, then the default it hides). ``configuration_keys``
narrows the list. A broker resource (type 4) named "" (the defaults) or this broker's id
lists every broker key: STATIC_BROKER_CONFIG (4) when the broker's config file or flags
set it, DEFAULT_CONFIG otherwise, read-only -- but for the cluster's dynamic configs
(issue 23: ``partition.move.throttle``, ``partition.autobalancing.enable``), which are not
read-only and, once set cluster-wide, show DYNAMIC_DEFAULT_BROKER_CONFIG (3) with the value
every broker applies (synonyms: that, then the broker's own); another broker's id is
INVALID_REQUEST (Kafka too wants the request at that broker, and
clients send it there). Other resource types: INVALID_REQUEST with a message, per
resource, as Kafka answers a resource it cannot describe."""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers.create_topics import DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["TOPIC", "handle"]

TOPIC: Final = 2
BROKER: Final = 4
_STATIC_BROKER_CONFIG: Final = 4
_DYNAMIC_DEFAULT: Final = 3  # DYNAMIC_DEFAULT_BROKER_CONFIG: set for every broker at runtime
_STRING: Final = 2  # DescribeConfigs' config_type for the values we give as text


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    topics = [r.resource_name for r in request.resources if r.resource_type == TOPIC]
    broker = ctx.server.broker
    described = {}
    if topics:
        described = {d.name: d for d in await broker.describe_topics(topics, caller=ctx.caller)}
    synonyms = bool(getattr(request, "include_synonyms", False))
    results = []
    for r in request.resources:
        if r.resource_type == BROKER:
            results.append(_broker(ctx, r, synonyms))
            continue
        if r.resource_type != TOPIC:
            results.append(_refused(r))
            continue
        d = described[r.resource_name]
        keys = set(r.configuration_keys) if r.configuration_keys else None
        results.append(
            {
                "error_code": error_code(d.error),
                "error_message": error_message(d.error),
                "resource_type": TOPIC,
                "resource_name": r.resource_name,
                "configs": [
                    _entry(c, synonyms) for c in d.configs if keys is None or c.name in keys
                ],
            }
        )
    return {"throttle_time": 0, "results": results}


def _broker(ctx: RequestContext, r: Any, synonyms: bool) -> dict[str, Any]:
    broker = ctx.server.broker
    if r.resource_name not in ("", str(broker.node_id)):
        return {
            **_refused(r),
            "error_message": f"this is broker {broker.node_id}: ask broker {r.resource_name}",
        }
    try:
        configs = broker.broker_configs(caller=ctx.caller)
        dynamic = {c.name: c for c in broker.describe_cluster_configs(caller=ctx.caller)}
    except LogdError as exc:
        return {**_refused(r), "error_code": int(exc.code), "error_message": exc.message}
    keys = set(r.configuration_keys) if r.configuration_keys else None
    entries = []
    for c in configs:
        if keys is not None and c.name not in keys:
            continue
        entry = _entry(c, synonyms, _STATIC_BROKER_CONFIG, read_only=c.name not in dynamic)
        cluster = dynamic.get(c.name)
        if cluster is not None and cluster.source == "cluster":
            own = entry["synonyms"]
            set_here = {"name": c.name, "value": cluster.value, "source": _DYNAMIC_DEFAULT}
            entry.update(value=cluster.value, is_default=False, config_source=_DYNAMIC_DEFAULT,
                         synonyms=[set_here, *own] if synonyms else [])  # fmt: skip
        entries.append(entry)
    return {
        "error_code": 0,
        "error_message": None,
        "resource_type": BROKER,
        "resource_name": r.resource_name,
        "configs": entries,
    }


def _entry(
    c: Any, synonyms: bool, set_source: int = DYNAMIC_TOPIC_CONFIG, *, read_only: bool = False
) -> dict[str, Any]:
    source = DEFAULT_CONFIG if c.is_default else set_source
    return {
        "name": c.name,
        "value": c.value,
        "read_only": read_only,
        "is_default": c.is_default,  # v0 only
        "config_source": source,
        "is_sensitive": False,
        "synonyms": [{"name": c.name, "value": c.value, "source": source}] if synonyms else [],
        "config_type": _STRING,
        "documentation": None,
    }


def _refused(r: Any) -> dict[str, Any]:
    return {
        "error_code": int(ErrorCode.INVALID_REQUEST),
        "error_message": f"resource type {r.resource_type} is not served (only topics, 2)",
        "resource_type": r.resource_type,
        "resource_name": r.resource_name,
        "configs": [],
    }
