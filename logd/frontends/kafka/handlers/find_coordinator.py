"""FindCoordinator (key 10, v0-6): which broker coordinates a consumer group.

v0-3 ask for one key, v4+ for a batch (KIP-699). The coordinator is the leader of the
group's ``__consumer_offsets`` partition (the core decides); we answer its Kafka listener.
Transaction coordinators (key type 1) are not served: INVALID_REQUEST with a message.
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message, kafka_address

__all__ = ["handle"]

_GROUP: Final = 0


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    batched = ctx.version >= 4
    keys = list(request.coordinator_keys) if batched else [request.key]
    key_type = int(getattr(request, "key_type", _GROUP))  # v1+
    if key_type != _GROUP:
        found = [_refused(k, key_type) for k in keys]
    else:
        broker = ctx.server.broker
        cluster = await broker.describe_cluster(caller=ctx.caller)
        nodes = {b.node_id: b for b in cluster.brokers}
        located = await broker.find_coordinators(keys, caller=ctx.caller)
        found = [_located(ctx, loc, nodes) for loc in located]
    if batched:
        return {"throttle_time": 0, "coordinators": found}
    one = found[0]
    del one["key"]
    return {"throttle_time": 0, **one}


def _located(ctx: RequestContext, loc: Any, nodes: dict[int, Any]) -> dict[str, Any]:
    host, port = "", -1
    if loc.error is None and loc.node_id in nodes:
        host, port = kafka_address(ctx, nodes[loc.node_id])
    if loc.error is None and port < 0:
        return {
            "key": loc.group_id,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": int(ErrorCode.COORDINATOR_NOT_AVAILABLE),
            "error_message": "the coordinator has no Kafka listener",
        }
    return {
        "key": loc.group_id,
        "node_id": loc.node_id if loc.error is None else -1,
        "host": host,
        "port": port,
        "error_code": error_code(loc.error),
        "error_message": error_message(loc.error),
    }


def _refused(key: str, key_type: int) -> dict[str, Any]:
    return {
        "key": key,
        "node_id": -1,
        "host": "",
        "port": -1,
        "error_code": int(ErrorCode.INVALID_REQUEST),
        "error_message": f"coordinator key type {key_type} is not served (only groups)",
    }
