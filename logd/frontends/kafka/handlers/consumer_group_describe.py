"""ConsumerGroupDescribe (key 69, v0-1): KIP-848 groups with their epochs, assignor and
members, each with its current and its target assignment. A classic group, or one nobody
knows, answers GROUP_ID_NOT_FOUND (librdkafka's admin client then asks DescribeGroups, as
with Kafka); a group the caller may not describe, GROUP_AUTHORIZATION_FAILED (the seam
decides, per group). ``authorized_operations`` as in DescribeGroups.
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.handlers.consumer_group_heartbeat import topic_ids
from logd.frontends.kafka.wire import authorized_operations
from logd.groups.consumer_ops import DescribedConsumerGroup
from logd.security.acl import ResourceType
from partitioning import TopicPartition

__all__ = ["handle"]

_CONSUMER_MEMBER: Final = 1  # v1's member_type: a member speaking the consumer protocol
_CLASSIC_MEMBER: Final = 0  # ... and one speaking the classic protocol inside the group


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    described = await ctx.server.broker.describe_consumer_groups(
        list(request.group_ids), caller=ctx.caller
    )
    names = {
        tp.topic
        for g in described
        for m in g.members
        for tp in (*m.assigned, *(g.targets or {}).get(m.member_id, ()))
    }
    ids = await topic_ids(ctx, names)
    asked = bool(request.include_authorized_operations)
    return {"throttle_time": 0, "groups": [_group(ctx, g, ids, asked) for g in described]}


def _group(
    ctx: RequestContext, g: DescribedConsumerGroup, ids: dict[str, Any], asked: bool
) -> dict[str, Any]:
    def partitions(tps: Any) -> dict[str, Any]:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in tps:
            by_topic.setdefault(topic, []).append(partition)
        return {
            "topic_partitions": [
                {"topic_id": ids[t], "topic_name": t, "partitions": sorted(ps)}
                for t, ps in sorted(by_topic.items())
                if t in ids
            ]
        }

    targets = g.targets or {}
    return {
        "error_code": int(g.error),
        "error_message": g.message or None,
        "group_id": g.group_id,
        "group_state": g.state.value,
        "group_epoch": g.group_epoch,
        "assignment_epoch": g.assignment_epoch,
        "assignor_name": g.assignor,
        "members": [
            {
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "rack_id": m.rack_id,
                "member_epoch": m.member_epoch,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "subscribed_topic_names": list(m.subscribed_topics),
                "subscribed_topic_regex": m.subscribed_regex,
                "assignment": partitions(m.assigned),
                "target_assignment": partitions(
                    TopicPartition(*tp) for tp in targets.get(m.member_id, ())
                ),
                "member_type": _CONSUMER_MEMBER if m.classic is None else _CLASSIC_MEMBER,
            }
            for m in g.members
        ],
        "authorized_operations": authorized_operations(
            ctx, ResourceType.GROUP, g.group_id, asked and g.error is ErrorCode.NONE
        ),
    }
