"""IncrementalAlterConfigs (key 44, v0-1): SET, DELETE, APPEND, SUBTRACT on topic configs,
validate-only too; the core applies them (list configs: ``cleanup.policy``)."""

from __future__ import annotations

from typing import Any

from logd.broker.api import ConfigChange
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers.alter_configs import answer_for, refused
from logd.frontends.kafka.handlers.describe_configs import TOPIC

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for r in request.resources:
        if r.resource_type != TOPIC:
            responses.append(refused(r))
            continue
        changes = [ConfigChange(c.name, c.config_operation, c.value) for c in r.configs]
        result = await ctx.server.broker.incremental_alter_configs(
            r.resource_name, changes, validate_only=request.validate_only, caller=ctx.caller
        )
        responses.append(answer_for(r, result))
    return {"throttle_time": 0, "responses": responses}
