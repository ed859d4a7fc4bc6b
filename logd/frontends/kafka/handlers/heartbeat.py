"""Heartbeat (key 12, v0-4): a member of a classic group says it is alive; the answer
REBALANCE_IN_PROGRESS tells it to rejoin. v3+ carries ``group.instance.id``."""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.groups.messages import HeartbeatRequest, HeartbeatResponse

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    req = HeartbeatRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
    )
    try:
        answer = await ctx.server.broker.heartbeat(req, caller=ctx.caller)
    except LogdError as exc:
        answer = HeartbeatResponse(exc.code, exc.message)
    return {"throttle_time": 0, "error_code": int(answer.error)}
