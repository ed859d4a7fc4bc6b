"""AlterConfigs (key 33, v0-2), Kafka's legacy form: the given overrides replace the topic's
(every key not given goes back to its default), validate-only too. The broker-default
resource "" sets the cluster's dynamic configs (``broker_configs``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers import broker_configs
from logd.frontends.kafka.handlers.describe_configs import TOPIC
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["answer_for", "for_topic_resources", "handle", "refused"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    async def replace(r: Any) -> Any:
        configs = {c.name: c.value for c in r.configs if c.value is not None}
        return await ctx.server.broker.replace_configs(
            r.resource_name, configs, validate_only=request.validate_only, caller=ctx.caller
        )

    async def replace_broker(r: Any) -> dict[str, Any]:
        return await broker_configs.replace(ctx, r, request.validate_only)

    return await for_topic_resources(request.resources, replace, replace_broker)


async def for_topic_resources(
    resources: Any,
    alter: Callable[[Any], Awaitable[Any]],
    alter_broker: Callable[[Any], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The answer of an alter-configs request: ``alter`` each topic resource in order,
    ``alter_broker`` each broker resource (it answers), other resource types refused."""
    responses = []
    for r in resources:
        if r.resource_type == TOPIC:
            responses.append(answer_for(r, await alter(r)))
        elif r.resource_type == broker_configs.BROKER:
            responses.append(await alter_broker(r))
        else:
            responses.append(refused(r))
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
        "error_message": f"resource type {resource.resource_type} is not served "
        "(only topics, 2, and the broker default, 4)",
        "resource_type": resource.resource_type,
        "resource_name": resource.resource_name,
    }
