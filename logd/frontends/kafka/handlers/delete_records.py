"""DeleteRecords (key 21, v0-2): each partition's records before an offset are deleted, for
every replica (offset -1: before the high watermark); the answer is the new low watermark
(the log start offset), per partition.

Kafka's rules kept: DELETE on the topic (TOPIC_AUTHORIZATION_FAILED per partition
otherwise), an offset past the high watermark is OFFSET_OUT_OF_RANGE, a topic whose
cleanup.policy lacks ``delete`` is POLICY_VIOLATION, a partition not led here is
NOT_LEADER_OR_FOLLOWER, and the answer waits for the deletion up to the request's timeout
(REQUEST_TIMED_OUT). The core replicates it (``logd.broker.delete_records``).
"""

from __future__ import annotations

from typing import Any

from logd.broker.api import DeleteRecordsQuery
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic, error_code, ms

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    queries = [
        DeleteRecordsQuery(t.name, p.partition_index, p.offset)
        for t in request.topics
        for p in t.partitions
    ]
    results = await ctx.server.broker.delete_records(
        queries, ms(request.timeout), caller=ctx.caller
    )
    return {"throttle_time": 0, "topics": by_topic(results, _partition, "name")}


def _partition(r: Any) -> dict[str, Any]:
    return {
        "partition_index": r.partition,
        "low_watermark": r.low_watermark,
        "error_code": error_code(r.error),
    }
