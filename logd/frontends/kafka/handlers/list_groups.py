"""ListGroups (key 16, v0-5): the groups this broker coordinates (clients ask every broker),
filtered by state (v4+, KIP-518) and by type (v5+, KIP-848: "classic" or "consumer");
the ones the caller may not describe are left out (the seam filters).

A state name Kafka does not know matches no group, as in Kafka; so does an unknown type
(compared without case, as Kafka parses it).
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.groups.consumer_group import ConsumerGroupState
from logd.groups.messages import ListGroupsResponse
from logd.groups.state import GroupState

__all__ = ["handle"]

TYPES: Final = ("classic", "consumer")


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    states_filter = list(getattr(request, "states_filter", ()) or ())
    types_filter = list(getattr(request, "types_filter", ()) or ())
    states: set[GroupState | ConsumerGroupState] = {
        s for name in states_filter if (s := GroupState.parse(name)) is not None
    }
    wanted = {name.strip().lower() for name in states_filter}
    states |= {s for s in ConsumerGroupState if s.value.lower() in wanted}
    types = {t.strip().lower() for t in types_filter} & set(TYPES) if types_filter else set(TYPES)
    if (states_filter and not states) or not types:
        answer = ListGroupsResponse(ErrorCode.NONE)
    else:
        try:
            answer = await ctx.server.broker.list_groups(states, caller=ctx.caller)
        except LogdError as exc:
            answer = ListGroupsResponse(exc.code)
    return {
        "throttle_time": 0,
        "error_code": int(answer.error),
        "groups": [
            {
                "group_id": g.group_id,
                "protocol_type": g.protocol_type,
                "group_state": g.state.value,
                "group_type": g.group_type,
            }
            for g in answer.groups
            if g.group_type in types
        ],
    }
