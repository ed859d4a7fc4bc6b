"""LeaveGroup (key 13, v0-5): members leave a classic group — one dynamic member in v0-2,
a batch of members (by member id, or a static member by ``group.instance.id`` alone, as an
admin removes it) from v3 (KIP-345).

v0-2 answers one error: the request's, else its one member's (as Kafka's LeaveGroupResponse
folds it). v3+ answers the request's error and one per member. The ``reason`` (v5+) is not
kept.
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.groups.messages import LeaveGroupMember, LeaveGroupRequest, LeaveGroupResponse

__all__ = ["handle"]

_BATCH_FROM: Final = 3


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if ctx.version >= _BATCH_FROM:
        members = tuple(LeaveGroupMember(m.member_id, m.group_instance_id) for m in request.members)
    else:
        members = (LeaveGroupMember(request.member_id),)
    req = LeaveGroupRequest(request.group_id, members)
    try:
        answer = await ctx.server.broker.leave_group(req, caller=ctx.caller)
    except LogdError as exc:
        answer = LeaveGroupResponse(exc.code, error_message=exc.message)
    error = answer.error
    if ctx.version < _BATCH_FROM and error is ErrorCode.NONE:
        error = next((m.error for m in answer.members if m.error is not ErrorCode.NONE), error)
    return {
        "throttle_time": 0,
        "error_code": int(error),
        "members": [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "error_code": int(m.error),
            }
            for m in answer.members
        ],
    }
