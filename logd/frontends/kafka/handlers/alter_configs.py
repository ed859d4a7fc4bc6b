"""AlterConfigs (key 33, v0-2), Kafka's legacy form: the given overrides replace the topic's
(every key not given goes back to its default), validate-only too."""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers.describe_configs import TOPIC
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["answer_for", "handle", "refused"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for r in request.resources:
        if r.resource_type != TOPIC:
            responses.append(refused(r))
            continue
        configs = {c.name: c.value for c in r.configs if c.value is not None}
        result = await ctx.server.broker.replace_configs(
            r.resource_name, configs, validate_only=request.validate_only, caller=ctx.caller
        )
        responses.append(answer_for(r, result))
    return {"throttle_time": 0, "responses": responses}


def answer_for(resource: Any, result: Any) -> dict[str, Any]:
    return {
        "error_code": error_code(result.error),
        "error_message": error_message(result.error),
        "resource_type": resource.resource_type,
        "resource_name": resource.resource_name,
    }


def refused(resource: Any) -> dict[str, Any]:
    return {
        "error_code": int(ErrorCode.INVALID_REQUEST),
        "error_message": f"resource type {resource.resource_type} is not served (only topics)",
        "resource_type": resource.resource_type,
        "resource_name": resource.resource_name,
    }
