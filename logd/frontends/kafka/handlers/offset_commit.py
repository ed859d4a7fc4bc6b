"""OffsetCommit (key 8, v2-9): a group member (or a standalone consumer: generation -1)
commits offsets, each with its leader epoch (v6+) and metadata string, which OffsetFetch
answers back unchanged.

A null metadata is stored as "" (Kafka's ``NO_METADATA``); ``retention_time`` (v2-4) is
ignored (offsets expire by the broker's ``offsets.retention.minutes``, as Kafka 2.1+ does);
v7+ carries ``group.instance.id``. Answered per partition in the order asked.
"""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic
from logd.groups.messages import (
    OffsetCommitPartition,
    OffsetCommitPartitionResult,
    OffsetCommitRequest,
    OffsetCommitResponse,
)

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    partitions = tuple(
        OffsetCommitPartition(
            topic=t.name,
            partition=p.partition_index,
            offset=p.committed_offset,
            leader_epoch=getattr(p, "committed_leader_epoch", -1),
            metadata=p.committed_metadata or "",
        )
        for t in request.topics
        for p in t.partitions
    )
    req = OffsetCommitRequest(
        group_id=request.group_id,
        partitions=partitions,
        generation_id=request.generation_id_or_member_epoch,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
    )
    try:
        answer = await ctx.server.broker.commit_offsets(req, caller=ctx.caller)
    except LogdError as exc:
        results = tuple(
            OffsetCommitPartitionResult(p.topic, p.partition, exc.code) for p in partitions
        )
        answer = OffsetCommitResponse(results, exc.message)
    return {"throttle_time": 0, "topics": by_topic(answer.partitions, _partition, "name")}


def _partition(r: OffsetCommitPartitionResult) -> dict[str, Any]:
    return {"partition_index": r.partition, "error_code": int(r.error)}
