"""Metadata (key 3, v0-13): brokers with their Kafka addresses, topics with partitions,
leaders, leader epochs (Raft terms) and topic ids.

Kafka's rules kept: v0 asks for every topic with an empty list, v1+ with null (an empty
list asks for none); a topic missing while ``allow_auto_topic_creation`` is set (and the
broker's ``auto.create.topics.enable``, the core's decision) is created with the defaults;
partitions without a leader answer LEADER_NOT_AVAILABLE (clients retry; most of
librdkafka's own tests rely on auto-creation). Topics asked by id (v12+) are resolved
through the same metadata. ``topic_authorized_operations`` (v8+) and
``cluster_authorized_operations`` (v8-10), when asked for, come from the seam's one
authorizer, as Kafka answers them.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import authorized_operations, error_code, kafka_brokers, topic_uuid
from logd.security.acl import CLUSTER_NAME, ResourceType

__all__ = ["handle"]

_LEADER_NOT_AVAILABLE: Final = 5


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    names, by_id = _requested(ctx.version, request.topics)
    broker = ctx.server.broker
    if by_id:
        every = await broker.metadata((), include_internal=True, caller=ctx.caller)
        known = {topic_uuid(t.topic_id): t.name for t in every.topics}
        names = [*(names or ()), *(known[i] for i in by_id if i in known)]
    topics: list[dict[str, Any]] = []
    if names is not None and not names:
        # No topic asked (librdkafka's broker-only refreshes): brokers and cluster only.
        cluster: Any = await broker.describe_cluster(caller=ctx.caller)
    else:
        cluster = await broker.metadata(
            names or (),
            include_internal=False,
            auto_create=bool(getattr(request, "allow_auto_topic_creation", True)),
            caller=ctx.caller,
        )
        topics = [_topic(t) for t in cluster.topics]
        if getattr(request, "include_topic_authorized_operations", False):
            for t in topics:
                if t["error_code"] == 0:
                    t["topic_authorized_operations"] = authorized_operations(
                        ctx, ResourceType.TOPIC, t["name"], True
                    )
    if by_id:
        found = {t["topic_id"] for t in topics}
        topics += [_unknown_id(i) for i in by_id if i not in found]
    return {
        "throttle_time": 0,
        "brokers": kafka_brokers(ctx, cluster.brokers),
        "cluster_id": cluster.cluster_id,
        "controller_id": cluster.controller_id,
        "topics": topics,
        "error_code": 0,
        "cluster_authorized_operations": authorized_operations(
            ctx,
            ResourceType.CLUSTER,
            CLUSTER_NAME,
            bool(getattr(request, "include_cluster_authorized_operations", False)),
        ),
    }


def _requested(version: int, topics: Any) -> tuple[list[str] | None, list[uuid.UUID]]:
    """The names asked for (None: every topic) and the ids asked for without a name."""
    if topics is None or (version == 0 and not topics):
        return None, []
    names: list[str] = []
    ids: list[uuid.UUID] = []
    for t in topics:
        if t.name is not None:
            names.append(t.name)
        elif getattr(t, "topic_id", None) is not None:
            ids.append(t.topic_id)
    return names, ids


def _topic(t: Any) -> dict[str, Any]:
    return {
        "error_code": error_code(t.error),
        "name": t.name,
        "topic_id": topic_uuid(t.topic_id),
        "is_internal": t.internal,
        "partitions": [
            {
                "error_code": (
                    _LEADER_NOT_AVAILABLE
                    if p.error is None and p.leader_id < 0
                    else error_code(p.error)
                ),
                "partition_index": p.partition,
                "leader_id": p.leader_id,
                "leader_epoch": p.leader_epoch,
                "replica_nodes": p.replicas,
                "isr_nodes": p.isr,
                "offline_replicas": p.offline_replicas,
            }
            for p in t.partitions
        ],
    }


def _partition_error(p: Any) -> int:
    if p.error is None and p.leader_id < 0:
        return _LEADER_NOT_AVAILABLE
    return error_code(p.error)


def _unknown_id(topic_id: uuid.UUID) -> dict[str, Any]:
    return {
        "error_code": 100,  # UNKNOWN_TOPIC_ID
        "name": None,
        "topic_id": topic_id,
        "partitions": [],
    }
