"""InitProducerId (key 22, v0-5): an idempotent producer's id and epoch.

As Kafka does for a producer without a transactional id, every call gets a fresh producer
id at epoch 0 -- also the KIP-360 call (v3+) that names the id and epoch it had: Kafka's
coordinator "blindly accepts the request and returns a new producerId" then too. A
transactional id is refused (transactions are not served yet).
"""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.transactional_id is not None:
        return _answer(int(ErrorCode.INVALID_REQUEST), -1, -1)
    result = await ctx.server.broker.init_producer_id(caller=ctx.caller)
    return _answer(error_code(result.error), result.producer_id, result.producer_epoch)


def _answer(code: int, producer_id: int, epoch: int) -> dict[str, Any]:
    return {
        "throttle_time": 0,
        "error_code": code,
        "producer_id": producer_id,
        "producer_epoch": epoch,
    }
