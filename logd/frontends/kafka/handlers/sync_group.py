"""SyncGroup (key 14, v0-5): the leader hands in everyone's assignment, every member gets
its own — through the seam's group coordinator.

v3+ carries ``group.instance.id``; v5+ the protocol type and name, checked against the
group's (KIP-559) and answered back (null on an error).
"""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.groups.messages import SyncGroupAssignment, SyncGroupRequest, SyncGroupResponse

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    req = SyncGroupRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        assignments=tuple(
            SyncGroupAssignment(a.member_id, bytes(a.assignment)) for a in request.assignments
        ),
        group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=getattr(request, "protocol_type", None) or "",
        protocol_name=getattr(request, "protocol_name", None) or "",
    )
    try:
        answer = await ctx.server.broker.sync_group(req, caller=ctx.caller)
    except LogdError as exc:
        answer = SyncGroupResponse(exc.code, error_message=exc.message)
    ok = answer.error is ErrorCode.NONE
    return {
        "throttle_time": 0,
        "error_code": int(answer.error),
        "protocol_type": answer.protocol_type if ok else None,
        "protocol_name": answer.protocol_name if ok else None,
        "assignment": answer.assignment,
    }
