"""ConsumerGroupHeartbeat (key 68, v0-1): KIP-848's consumer group protocol
(``group.protocol=consumer``). A member joins (epoch 0), heartbeats, and leaves (-1, or -2
for a static member) with this one request; the broker assigns the partitions and the
member gives up and takes partitions as the answers say (logd/groups/consumer_group.py).

Partitions travel by topic id on the wire and by name in the core: owned ids the caller may
not see, or that no longer exist, are left out (the member no longer owns anything of a
deleted topic). v1 (KIP-1082) only changes who makes the member id: the client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import client_host, ms, topic_uuid
from logd.groups.consumer_group import ConsumerHeartbeat, ConsumerHeartbeatAnswer
from partitioning import TopicPartition

__all__ = ["handle", "topic_ids"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    owned = None
    if request.topic_partitions is not None:
        owned = frozenset(await _owned(ctx, request.topic_partitions))
    names = request.subscribed_topic_names
    req = ConsumerHeartbeat(
        group_id=request.group_id,
        member_id=request.member_id,
        member_epoch=request.member_epoch,
        instance_id=request.instance_id,
        rack_id=request.rack_id,
        rebalance_timeout_ms=ms(request.rebalance_timeout),
        subscribed_topics=None if names is None else tuple(names),
        # None: unchanged; "" (librdkafka, subscribing by names): no regex.
        subscribed_regex=getattr(request, "subscribed_topic_regex", None),
        server_assignor=request.server_assignor,
        owned=owned,
        client_id=ctx.header.client_id or "",
        client_host=client_host(ctx.peer),
    )
    try:
        answer = await ctx.server.broker.consumer_group_heartbeat(req, caller=ctx.caller)
    except LogdError as exc:
        answer = ConsumerHeartbeatAnswer(exc.code, req.member_id, message=exc.message)
    assignment = None
    if answer.assignment is not None:
        assignment = {"topic_partitions": await by_topic_id(ctx, answer.assignment)}
    return {
        "throttle_time": 0,
        "error_code": int(answer.error),
        "error_message": answer.message or None,
        "member_id": answer.member_id or None,
        "member_epoch": answer.member_epoch,
        "heartbeat_interval": answer.heartbeat_interval_ms,
        "assignment": assignment,
    }


async def _owned(ctx: RequestContext, topics: Iterable[Any]) -> list[TopicPartition]:
    owned: list[TopicPartition] = []
    for topic in topics:
        if topic.topic_id is None:
            continue
        name = ctx.server.broker.topic_name(topic.topic_id.hex, caller=ctx.caller)
        if name is not None:
            owned.extend(TopicPartition(name, p) for p in topic.partitions)
    return owned


async def topic_ids(ctx: RequestContext, names: Iterable[str]) -> dict[str, uuid.UUID]:
    """The Kafka topic id of each of ``names`` that exists (and the caller may see)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    meta = await ctx.server.broker.metadata(wanted, caller=ctx.caller)
    return {t.name: tid for t in meta.topics if t.error is None and (tid := topic_uuid(t.topic_id))}


async def by_topic_id(
    ctx: RequestContext, partitions: Iterable[TopicPartition]
) -> list[dict[str, Any]]:
    """Partitions grouped as the wire's ``TopicPartitions`` (topic id, partitions)."""
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    ids = await topic_ids(ctx, grouped)
    return [
        {"topic_id": ids[name], "partitions": sorted(grouped[name])}
        for name in sorted(grouped)
        if name in ids
    ]
