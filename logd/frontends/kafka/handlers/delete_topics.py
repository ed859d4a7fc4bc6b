"""DeleteTopics (key 20, v1-6): by name, or (v6+) by topic id."""

from __future__ import annotations

from typing import Any

from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["handle"]

_UNKNOWN_TOPIC_ID = 100


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.server.broker
    if ctx.version >= 6:
        asked = [
            (
                t.name
                or broker.topic_name(t.topic_id.hex if t.topic_id else "", caller=ctx.caller),
                t.topic_id,
            )
            for t in request.topics
        ]
    else:
        asked = [(name, None) for name in request.topic_names]
    names = [n for n, _ in asked if n]
    results = {r.name: r for r in await broker.delete_topics(names, caller=ctx.caller)}
    responses = []
    for name, topic_id in asked:
        result = results.get(name) if name else None
        if result is None:
            responses.append(
                {
                    "name": None,
                    "topic_id": topic_id,
                    "error_code": _UNKNOWN_TOPIC_ID,
                    "error_message": "unknown topic id",
                }
            )
            continue
        responses.append(
            {
                "name": name,
                "topic_id": topic_id,
                "error_code": error_code(result.error),
                "error_message": error_message(result.error),
            }
        )
    return {"throttle_time": 0, "responses": responses}
