"""OffsetFetch (key 9, v1-9): a group's committed offsets with their leader epochs (v5+)
and metadata strings as committed; one group per request until v7, a batch of groups from
v8 (KIP-709).

A partition without a committed offset answers -1 and metadata "". A null topic list (v2+)
asks for every committed offset of the group. A group's error goes where the version puts
it: on each partition in v1, in the top-level ``error_code`` in v2-7, per group from v8.
``require_stable`` (v7+) needs no waiting (logd has no transactional offsets). The member
id and epoch of v9 fence a KIP-848 member's fetch (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID,
as Kafka 4); they are not checked for classic groups, nor when absent (an admin's fetch).
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic
from logd.groups.messages import OffsetFetchPartition, OffsetFetchResponse, TopicPartition

__all__ = ["handle"]

_BATCHED_FROM: Final = 8
_TOP_LEVEL_ERROR_FROM: Final = 2


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if ctx.version >= _BATCHED_FROM:
        groups = [
            await _group(ctx, g.group_id, g.topics, getattr(g, "member_id", None),
                         getattr(g, "member_epoch", -1))
            for g in request.groups
        ]  # fmt: skip
        return {"throttle_time": 0, "groups": groups}
    group = await _group(ctx, request.group_id, request.topics)
    return {"throttle_time": 0, "topics": group["topics"], "error_code": group["error_code"]}


async def _group(
    ctx: RequestContext,
    group_id: str,
    topics: Any,
    member_id: str | None = None,
    member_epoch: int = -1,
) -> dict[str, Any]:
    asked = None
    if topics is not None:
        asked = [
            TopicPartition(t.name, p) for t in topics for p in getattr(t, "partition_indexes", ())
        ]
    try:
        answer = await ctx.server.broker.fetch_offsets(
            group_id, asked, caller=ctx.caller, member_id=member_id, member_epoch=member_epoch
        )
    except LogdError as exc:
        answer = OffsetFetchResponse(exc.code, error_message=exc.message)
    partitions = answer.partitions
    if answer.error is not ErrorCode.NONE:
        # v1 has no group error: each partition asked carries it; later versions answer
        # the group's error alone (as Kafka).
        partitions = ()
        if ctx.version < _TOP_LEVEL_ERROR_FROM:
            partitions = tuple(
                OffsetFetchPartition(tp.topic, tp.partition, -1, error=answer.error)
                for tp in asked or ()
            )
    return {
        "group_id": group_id,
        "topics": by_topic(partitions, _partition, "name"),
        "error_code": int(answer.error),
    }


def _partition(p: OffsetFetchPartition) -> dict[str, Any]:
    return {
        "partition_index": p.partition,
        "committed_offset": p.offset,
        "committed_leader_epoch": p.leader_epoch,
        "metadata": p.metadata,
        "error_code": int(p.error),
    }
