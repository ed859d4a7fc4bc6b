"""OffsetForLeaderEpoch (key 23, v2-4): where a leader epoch ends, so a consumer can tell
whether the log it read was truncated under it (KIP-320). Leader epochs are the Raft terms
(DESIGN.md principle 3); the core answers from the partition's leader-epoch cache."""

from __future__ import annotations

from typing import Any

from logd.broker.api import EpochEndQuery
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic, error_code

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    queries = [
        EpochEndQuery(t.topic, p.partition, p.leader_epoch, p.current_leader_epoch)
        for t in request.topics
        for p in t.partitions
    ]
    results = await ctx.server.broker.offsets_for_leader_epochs(queries, caller=ctx.caller)
    return {"throttle_time": 0, "topics": by_topic(results, _partition, "topic")}


def _partition(r: Any) -> dict[str, Any]:
    return {
        "error_code": error_code(r.error),
        "partition": r.partition,
        "leader_epoch": r.leader_epoch,
        "end_offset": r.end_offset,
    }
