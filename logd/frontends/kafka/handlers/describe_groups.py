"""DescribeGroups (key 15, v0-5): each group's state, protocol, generation leader and
members with their subscriptions and assignments (filled in the Stable state, as Kafka).

A group nobody knows is answered Dead with no members and no error (Kafka's classic
answer); a group the caller may not describe, GROUP_AUTHORIZATION_FAILED (per group: the
seam decides). ``authorized_operations`` (v3+) is not computed: it answers Kafka's "not
provided" (-2^31) whether or not it was asked for.
"""

from __future__ import annotations

from typing import Any, Final

from logd.frontends.kafka.apis import RequestContext
from logd.groups.messages import DescribedGroup

__all__ = ["handle"]

_NOT_PROVIDED: Final = -(2**31)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    described = await ctx.server.broker.describe_groups(list(request.groups), caller=ctx.caller)
    return {"throttle_time": 0, "groups": [_group(g) for g, _ in described]}


def _group(g: DescribedGroup) -> dict[str, Any]:
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
        "authorized_operations": _NOT_PROVIDED,
    }
