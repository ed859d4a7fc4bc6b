"""IncrementalAlterConfigs (key 44, v0-1): SET, DELETE, APPEND, SUBTRACT on topic configs,
validate-only too; the core applies them (list configs: ``cleanup.policy``). The
broker-default resource "" sets the cluster's dynamic configs (``broker_configs``)."""

from __future__ import annotations

from typing import Any

from logd.broker.api import ConfigChange
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers import broker_configs
from logd.frontends.kafka.handlers.alter_configs import for_topic_resources

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    async def apply(r: Any) -> Any:
        changes = [ConfigChange(c.name, c.config_operation, c.value) for c in r.configs]
        return await ctx.server.broker.incremental_alter_configs(
            r.resource_name, changes, validate_only=request.validate_only, caller=ctx.caller
        )

    async def apply_broker(r: Any) -> dict[str, Any]:
        return await broker_configs.alter_incrementally(ctx, r, request.validate_only)

    return await for_topic_resources(request.resources, apply, apply_broker)
