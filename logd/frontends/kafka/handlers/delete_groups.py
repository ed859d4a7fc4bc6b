"""DeleteGroups (key 42, v0-2): delete empty groups with their committed offsets; answered
per group (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, NOT_COORDINATOR, GROUP_AUTHORIZATION_FAILED)
once the tombstones are durable."""

from __future__ import annotations

from typing import Any

from logd.frontends.kafka.apis import RequestContext

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    answer = await ctx.server.broker.delete_groups(list(request.groups_names), caller=ctx.caller)
    return {
        "throttle_time": 0,
        "results": [{"group_id": r.group_id, "error_code": int(r.error)} for r in answer.results],
    }
