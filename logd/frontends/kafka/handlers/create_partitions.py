"""CreatePartitions (key 37, v0-3): raise a topic's partition count (validate-only too),
one answer per topic as Kafka gives. Manual assignments are not served."""

from __future__ import annotations

import asyncio
from typing import Any

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.server.broker
    validate_only = bool(request.validate_only)

    async def one(t: Any) -> dict[str, Any]:
        if t.assignments is not None:
            return {
                "name": t.name,
                "error_code": int(ErrorCode.INVALID_REPLICA_ASSIGNMENT),
                "error_message": "manual replica assignments are not supported",
            }
        result = await broker.create_partitions(
            t.name, t.count, validate_only=validate_only, caller=ctx.caller
        )
        return {
            "name": t.name,
            "error_code": error_code(result.error),
            "error_message": error_message(result.error),
        }

    results = await asyncio.gather(*(one(t) for t in request.topics))
    return {"throttle_time": 0, "results": list(results)}
