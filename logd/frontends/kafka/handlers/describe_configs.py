"""DescribeConfigs (key 32, v1-4): every config of a topic with its value and source --
DEFAULT_CONFIG (5) for a default, DYNAMIC_TOPIC_CONFIG (1) for an override -- and, when
asked (v1+), its synonyms (the override, then the default it hides). ``configuration_keys``
narrows the list. Broker resources (type 4) are not served yet: INVALID_REQUEST with a
message, per resource, as Kafka answers a resource it cannot describe."""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers.create_topics import DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["TOPIC", "handle"]

TOPIC: Final = 2
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


def _entry(c: Any, synonyms: bool) -> dict[str, Any]:
    source = DEFAULT_CONFIG if c.is_default else DYNAMIC_TOPIC_CONFIG
    return {
        "name": c.name,
        "value": c.value,
        "read_only": False,
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
