"""ListOffsets (key 2, v1-7): earliest (-2), latest (-1), the first offset at or after a
timestamp, and (v7+, KIP-734) the record with the largest timestamp (-3).

Kafka's rules kept: with no transactions the latest offset is the high watermark at either
isolation level; a timestamp past every record answers offset -1 and timestamp -1; the
leader epoch (v4+) is the partition's current Raft term; a ``current_leader_epoch`` other
than ours is fenced by the core, as a fetch's is.
"""

from __future__ import annotations

from typing import Any, Final

from logd.broker.api import ListOffsetsQuery, OffsetSpec
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic, error_code

__all__ = ["handle"]

#: Kafka's special timestamps -> the core's specs.
_SPECS: Final = {-1: OffsetSpec.LATEST, -2: OffsetSpec.EARLIEST, -3: OffsetSpec.MAX_TIMESTAMP}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    queries = [
        ListOffsetsQuery(
            t.name,
            p.partition_index,
            _SPECS.get(p.timestamp, OffsetSpec.TIMESTAMP),
            p.timestamp,
            current_leader_epoch=getattr(p, "current_leader_epoch", -1),
        )
        for t in request.topics
        for p in t.partitions
    ]
    results = await ctx.server.broker.list_offsets(queries, caller=ctx.caller)
    return {"throttle_time": 0, "topics": by_topic(results, _partition, "name")}


def _partition(r: Any) -> dict[str, Any]:
    return {
        "partition_index": r.partition,
        "error_code": error_code(r.error),
        "timestamp": r.timestamp_ms,
        "offset": r.offset,
        "leader_epoch": r.leader_epoch,
    }
