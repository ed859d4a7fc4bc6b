"""DescribeCluster (key 60, v0-1): the cluster id, the controller and the live brokers with
their Kafka addresses, and (when asked) what the caller may do to the cluster. Only broker
endpoints are served (KIP-919's controller endpoints, ``endpoint_type`` 2, answer
UNSUPPORTED_ENDPOINT_TYPE as a Kafka broker does)."""

from __future__ import annotations

from typing import Any, Final

from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import authorized_operations, kafka_brokers
from logd.security.acl import CLUSTER_NAME, ResourceType

__all__ = ["handle"]

_BROKERS: Final = 1
_UNSUPPORTED_ENDPOINT_TYPE: Final = 119


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    endpoint_type = getattr(request, "endpoint_type", _BROKERS)
    cluster = await ctx.server.broker.describe_cluster(caller=ctx.caller)
    if endpoint_type != _BROKERS:
        return {
            "throttle_time": 0,
            "error_code": _UNSUPPORTED_ENDPOINT_TYPE,
            "error_message": "only broker endpoints are served",
            "endpoint_type": endpoint_type,
            "cluster_id": cluster.cluster_id,
            "brokers": [],
        }
    brokers = [
        {"broker_id": b["node_id"], "host": b["host"], "port": b["port"], "rack": b["rack"]}
        for b in kafka_brokers(ctx, cluster.brokers)
    ]
    return {
        "throttle_time": 0,
        "error_code": 0,
        "endpoint_type": _BROKERS,
        "cluster_id": cluster.cluster_id,
        "controller_id": cluster.controller_id,
        "brokers": brokers,
        "cluster_authorized_operations": authorized_operations(
            ctx,
            ResourceType.CLUSTER,
            CLUSTER_NAME,
            bool(getattr(request, "include_cluster_authorized_operations", False)),
        ),
    }
