"""OffsetDelete (key 47, v0): delete a group's committed offsets of some partitions
(KIP-496) — allowed for an empty group, and for a consumer group only on topics none of its
members subscribes to (GROUP_SUBSCRIBED_TO_TOPIC per partition otherwise). A group error
(GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, NOT_COORDINATOR, GROUP_AUTHORIZATION_FAILED …) is the
top-level ``error_code`` with no partitions, as Kafka answers it."""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic
from logd.groups.messages import OffsetDeleteRequest, OffsetDeleteResponse, TopicPartition

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    asked = tuple(
        TopicPartition(t.name, p.partition_index) for t in request.topics for p in t.partitions
    )
    req = OffsetDeleteRequest(request.group_id, asked)
    try:
        answer = await ctx.server.broker.delete_offsets(req, caller=ctx.caller)
    except LogdError as exc:
        answer = OffsetDeleteResponse(exc.code)
    topics = []
    if answer.error is ErrorCode.NONE:
        topics = by_topic(
            answer.partitions,
            lambda r: {"partition_index": r.partition, "error_code": int(r.error)},
            "name",
        )
    return {"error_code": int(answer.error), "throttle_time": 0, "topics": topics}
