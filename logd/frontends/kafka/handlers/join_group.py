"""JoinGroup (key 11, v0-9): a member joins a classic group, through the seam's group
coordinator (the same one logd's own consumers join over gRPC).

Kafka's rules kept: a dynamic member's first JoinGroup from v4 is answered
MEMBER_ID_REQUIRED with its new id (KIP-394); v5+ carries ``group.instance.id`` (static
membership, KIP-345); v0 has no rebalance timeout (the session timeout stands in);
``protocol_type`` is answered from v7 and ``protocol_name`` is null on an error from v7.
``skip_assignment`` (v9, KIP-814) is always false: a restarted static leader is answered
with the leader id from before its restart, so it computes no assignment (as Kafka before
v9). The ``reason`` (v8+) is not kept.
"""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import client_host, ms
from logd.groups.messages import JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse

__all__ = ["handle"]

_REQUIRE_KNOWN_MEMBER_ID_FROM = 4
_NULLABLE_PROTOCOL_NAME_FROM = 7


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    req = JoinGroupRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        protocol_type=request.protocol_type,
        protocols=tuple(JoinGroupProtocol(p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=ms(request.session_timeout),
        rebalance_timeout_ms=ms(getattr(request, "rebalance_timeout", -1)),
        group_instance_id=getattr(request, "group_instance_id", None),
        client_id=ctx.header.client_id or "",
        client_host=client_host(ctx.peer),
        require_known_member_id=ctx.version >= _REQUIRE_KNOWN_MEMBER_ID_FROM,
    )
    try:
        answer = await ctx.server.broker.join_group(req, caller=ctx.caller)
    except LogdError as exc:
        answer = JoinGroupResponse(exc.code, request.member_id, error_message=exc.message)
    return _answer(ctx.version, answer)


def _answer(version: int, a: JoinGroupResponse) -> dict[str, Any]:
    failed = a.error is not ErrorCode.NONE
    protocol_name: str | None = a.protocol_name
    if failed and version >= _NULLABLE_PROTOCOL_NAME_FROM:
        protocol_name = None
    return {
        "throttle_time": 0,
        "error_code": int(a.error),
        "generation_id": a.generation_id,
        "protocol_type": (a.protocol_type or None) if failed else a.protocol_type,
        "protocol_name": protocol_name,
        "leader": a.leader_id,
        "skip_assignment": False,
        "member_id": a.member_id,
        "members": [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "metadata": m.metadata,
            }
            for m in a.members
        ],
    }
