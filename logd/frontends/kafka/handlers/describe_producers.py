"""DescribeProducers (key 61, v0): the idempotent producers each partition's leader
remembers -- id, epoch, last sequence, last timestamp (no transactions: coordinator epoch
-1 and no open transaction)."""

from __future__ import annotations

from typing import Any

from logd.broker.api import TopicPartition
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic, error_code, error_message

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    asked = [TopicPartition(t.name, p) for t in request.topics for p in t.partition_indexes]
    results = await ctx.server.broker.describe_producers(asked, caller=ctx.caller)
    return {"throttle_time": 0, "topics": by_topic(results, _partition, "name")}


def _partition(r: Any) -> dict[str, Any]:
    return {
        "partition_index": r.partition,
        "error_code": error_code(r.error),
        "error_message": error_message(r.error),
        "active_producers": [
            {
                "producer_id": p.producer_id,
                "producer_epoch": p.producer_epoch,
                "last_sequence": p.last_sequence,
                "last_timestamp": p.last_timestamp_ms,
                "coordinator_epoch": -1,
                "current_txn_start_offset": -1,
            }
            for p in r.producers
        ],
    }
