"""Fetch (key 1, v4-16): the core's long-poll fetch, answered in Kafka's shape.

Kafka's rules kept: fetch sessions (KIP-227) are optional for a broker -- a full fetch is
answered with session id 0, which tells the client that no session was created (the Java
client and franz-go then keep sending full fetches; librdkafka never asks for one); an
incremental fetch on an id we never gave out is FETCH_SESSION_ID_NOT_FOUND. With no
transactions the last stable offset is the high watermark and no transaction was aborted,
at either isolation level. The records field is never null (librdkafka rejects a null
MessageSetSize). v12+ leader hints (KIP-951) name the leader of a partition we do not lead.
v13+ name topics by id. ``replica_id`` (before v15) is ignored: this listener serves
consumers only, and they read below the high watermark whatever they claim to be.
"""

from __future__ import annotations

from typing import Any, Final

from logd.broker.api import FetchPartitionRequest, FetchPartitionResult
from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, kafka_brokers, ms

__all__ = ["handle"]

_FETCH_SESSION_ID_NOT_FOUND: Final = 70
_UNKNOWN_TOPIC_ID: Final = 100
_NO_REPLICA: Final = -1


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    version = ctx.version
    if getattr(request, "session_id", 0) != 0 and getattr(request, "session_epoch", -1) > 0:
        return _top_level_error(_FETCH_SESSION_ID_NOT_FOUND)
    broker = ctx.server.broker
    wanted: list[FetchPartitionRequest] = []
    topics: list[tuple[str | None, Any, list[int]]] = []  # name, topic id, partitions
    for t in request.topics:
        if version >= 13:
            name = (
                broker.topic_name(t.topic_id.hex, caller=ctx.caller)
                if t.topic_id is not None
                else None
            )
            topic_id = t.topic_id
        else:
            name, topic_id = t.topic, None
        topics.append((name, topic_id, [p.partition for p in t.partitions]))
        if name is None:
            continue
        for p in t.partitions:
            wanted.append(
                FetchPartitionRequest(
                    name,
                    p.partition,
                    p.fetch_offset,
                    p.partition_max_bytes,
                    current_leader_epoch=getattr(p, "current_leader_epoch", -1),
                )
            )
    try:
        results = await broker.fetch(
            wanted,
            max_wait_ms=ms(request.max_wait),
            min_bytes=request.min_bytes,
            max_bytes=getattr(request, "max_bytes", 0),
            caller=ctx.caller,
        )
    except LogdError as exc:  # the request as a whole (Kafka: getErrorResponse)
        results = [FetchPartitionResult(w.topic, w.partition, error=exc) for w in wanted]
    by_key = {(r.topic, r.partition): r for r in results}
    leaders: set[int] = set()
    responses = []
    for name, topic_id, partitions in topics:
        answers = []
        for index in partitions:
            result = by_key.get((name, index)) if name is not None else None
            answers.append(_partition(index, result, leaders))
        responses.append({"topic": name, "topic_id": topic_id, "partitions": answers})
    endpoints: list[dict[str, Any]] = []
    if leaders and version >= 16:
        cluster = await broker.describe_cluster(caller=ctx.caller)
        endpoints = kafka_brokers(ctx, [b for b in cluster.brokers if b.node_id in leaders])
    return {
        "throttle_time": 0,
        "error_code": 0,
        "session_id": 0,
        "responses": responses,
        "node_endpoints": endpoints,
    }


def _partition(index: int, result: Any, leaders: set[int]) -> dict[str, Any]:
    if result is None:  # a topic id we do not know
        return _empty(index, _UNKNOWN_TOPIC_ID)
    answer = {
        "partition_index": index,
        "error_code": error_code(result.error),
        "high_watermark": result.high_watermark,
        "last_stable_offset": result.high_watermark,
        "log_start_offset": result.log_start_offset,
        "aborted_transactions": [],
        "preferred_read_replica": _NO_REPLICA,
        "records": result.records,
    }
    hint = result.leader_hint
    if hint is not None and hint.leader_id >= 0:
        answer["current_leader"] = {"leader_id": hint.leader_id, "leader_epoch": hint.leader_epoch}
        leaders.add(hint.leader_id)
    return answer


def _empty(index: int, code: int) -> dict[str, Any]:
    return {
        "partition_index": index,
        "error_code": code,
        "high_watermark": -1,
        "last_stable_offset": -1,
        "log_start_offset": -1,
        "aborted_transactions": [],
        "preferred_read_replica": _NO_REPLICA,
        "records": b"",
    }


def _top_level_error(code: int) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "session_id": 0, "responses": []}
