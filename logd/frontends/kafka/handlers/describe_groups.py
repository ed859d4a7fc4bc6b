"""DescribeGroups (key 15, v0-5): each group's state, protocol, generation leader and
members with their subscriptions and assignments (filled in the Stable state, as Kafka).

A group nobody knows is answered Dead with no members and no error (Kafka's classic
answer); a group the caller may not describe, GROUP_AUTHORIZATION_FAILED (per group: the
seam decides). ``authorized_operations`` (v3+), when asked for, is what the seam's one
authorizer lets the caller do to each group it describes (READ, DESCRIBE, DELETE), as
Kafka answers; else Kafka's "omitted" (-2^31).
"""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import authorized_operations
from logd.groups.messages import DescribedGroup
from logd.security.acl import ResourceType

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    described = await ctx.server.broker.describe_groups(list(request.groups), caller=ctx.caller)
    asked = bool(getattr(request, "include_authorized_operations", False))
    return {"throttle_time": 0, "groups": [_group(ctx, g, asked) for g, _ in described]}


def _group(ctx: RequestContext, g: DescribedGroup, asked: bool) -> dict[str, Any]:
    return {
        "error_code": int(g.error),
        "error_message": None,
        "group_id": g.group_id,
        "group_state": g.state.value,
        "protocol_type": g.protocol_type,
        "protocol_data": g.protocol_name,
        "members": [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "member_metadata": m.metadata,
                "member_assignment": m.assignment,
            }
            for m in g.members
        ],
        "authorized_operations": authorized_operations(
            ctx, ResourceType.GROUP, g.group_id, asked and g.error is ErrorCode.NONE
        ),
    }
