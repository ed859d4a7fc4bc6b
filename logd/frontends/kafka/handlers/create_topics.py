"""CreateTopics (key 19, v2-7), validate-only included.

Kafka's rules kept: -1 partitions or replication factor take the broker's defaults; a name
given twice in one request is INVALID_REQUEST for each; v5+ answers the created topic's
partition count, replication factor and configs (source DEFAULT_CONFIG or
DYNAMIC_TOPIC_CONFIG), v7+ its topic id. Manual replica assignments are not served
(INVALID_REPLICA_ASSIGNMENT): the controller places replicas.
"""

from __future__ import annotations

import collections
from typing import Any, Final

from logd.broker.api import NewTopic
from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message, topic_uuid

__all__ = ["config_entries", "handle"]

DEFAULT_CONFIG: Final = 5
DYNAMIC_TOPIC_CONFIG: Final = 1


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = collections.Counter(t.name for t in request.topics)
    answers: dict[str, dict[str, Any]] = {}
    wanted: list[NewTopic] = []
    for t in request.topics:
        if counts[t.name] > 1:
            answers[t.name] = _failed(t.name, ErrorCode.INVALID_REQUEST, "named twice")
        elif t.assignments:
            answers[t.name] = _failed(
                t.name,
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                "manual replica assignments are not supported: the controller places replicas",
            )
        else:
            wanted.append(
                NewTopic(
                    t.name,
                    max(t.num_partitions, 0),
                    max(t.replication_factor, 0),
                    {c.name: c.value for c in t.configs if c.value is not None},
                )
            )
    broker = ctx.server.broker
    validate_only = bool(getattr(request, "validate_only", False))
    results = await broker.create_topics(wanted, validate_only=validate_only, caller=ctx.caller)
    created = [r.name for r in results if r.error is None and not validate_only]
    described = {}
    if created and ctx.version >= 5:
        described = {d.name: d for d in await broker.describe_topics(created, caller=ctx.caller)}
    for r in results:
        answers[r.name] = _created(r, described.get(r.name))
    return {"throttle_time": 0, "topics": [answers[n] for n in dict.fromkeys(counts)]}


def _created(result: Any, described: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "name": result.name,
        "topic_id": None,
        "error_code": error_code(result.error),
        "error_message": error_message(result.error),
        "configs": None,
    }
    if described is not None and described.error is None:
        answer["topic_id"] = topic_uuid(described.topic_id)
        answer["num_partitions"] = len(described.partitions)
        replicas = described.partitions[0].replicas if described.partitions else ()
        answer["replication_factor"] = len(replicas)
        answer["configs"] = config_entries(described.configs)
    return answer


def config_entries(configs: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "value": c.value,
            "read_only": False,
            "config_source": DEFAULT_CONFIG if c.is_default else DYNAMIC_TOPIC_CONFIG,
            "is_sensitive": False,
        }
        for c in configs
    ]


def _failed(name: str, code: ErrorCode, message: str) -> dict[str, Any]:
    return {
        "name": name,
        "topic_id": None,
        "error_code": int(code),
        "error_message": message,
        "configs": None,
    }
