"""Produce (key 0, v3-12 served; v0-2 advertised and refused, as Kafka 4 does).

Each partition's batch is handed to the core with ``produce_nowait`` *before* this handler
returns, in request order (the core checks the batch, its CRC, the producer's id, epoch and
sequence, and appends); only the wait for acks=all commits is asynchronous. So a pipelined
connection keeps its order and its batches share fsyncs.

Kafka's rules kept: acks=0 gets no answer, and an error closes the connection instead (the
producer's only way to learn of it); a partition the broker does not lead answers
NOT_LEADER_OR_FOLLOWER with KIP-951's leader hint (v10+: the leader and its epoch, and the
leader's endpoint); a transactional produce answers INVALID_TXN_STATE (transactions are not
served). v0-2 are advertised so that old librdkafka (before 2.11.1; Debian's kcat) turns
compression on, and refused with UNSUPPORTED_VERSION per partition (KAFKA-18659).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Final

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import RequestContext, Silence
from logd.frontends.kafka.header import RequestHeader
from logd.frontends.kafka.schema_codec import SchemaDecodeError, decode, encode
from logd.frontends.kafka.wire import error_code, error_message, kafka_brokers, ms

__all__ = ["handle", "refuse_legacy"]

_INVALID_TXN_STATE = 48


def handle(ctx: RequestContext, request: Any) -> Any:
    broker = ctx.server.broker
    acks = int(request.acks)
    timeout_ms = ms(request.timeout)
    transactional = request.transactional_id is not None
    answers: list[tuple[str, int, Any]] = []
    for topic in request.topic_data:
        for part in topic.partition_data:
            if transactional:
                answer: Any = _failed(_INVALID_TXN_STATE, "transactions are not served")
            elif part.records is None:
                answer = _failed(int(ErrorCode.CORRUPT_MESSAGE), "null records")
            else:
                answer = broker.produce_nowait(
                    topic.name, part.index, acks, part.records, timeout_ms, caller=ctx.caller
                )
            answers.append((topic.name, part.index, answer))
    if acks == 0:
        failed = any(not isinstance(a, dict) and a.error is not None for _, _, a in answers)
        return Silence.CLOSE if failed else Silence.NO_ANSWER
    if any(isinstance(a, asyncio.Future) or _hinted(a) for _, _, a in answers):
        return _finish(ctx, answers)
    return _respond(ctx, answers, ())


def _hinted(result: Any) -> bool:
    hint = getattr(result, "leader_hint", None)
    return hint is not None and hint.leader_id >= 0


async def _finish(ctx: RequestContext, answers: list[tuple[str, int, Any]]) -> dict[str, Any]:
    done = [(t, p, (await a) if isinstance(a, asyncio.Future) else a) for t, p, a in answers]
    brokers: Sequence[Any] = ()
    if any(_hinted(a) for _, _, a in done):
        brokers = (await ctx.server.broker.describe_cluster(caller=ctx.caller)).brokers
    return _respond(ctx, done, brokers)


def _respond(
    ctx: RequestContext, answers: list[tuple[str, int, Any]], brokers: Sequence[Any]
) -> dict[str, Any]:
    topics: dict[str, list[dict[str, Any]]] = {}
    leaders: set[int] = set()
    for topic, partition, result in answers:
        if isinstance(result, dict):
            topics.setdefault(topic, []).append({"index": partition, **result})
            continue
        entry: dict[str, Any] = {
            "index": partition,
            "error_code": error_code(result.error),
            "error_message": error_message(result.error),
            "base_offset": result.base_offset,
            "log_append_time": result.log_append_time_ms,
            "log_start_offset": result.log_start_offset,
            "record_errors": [],
        }
        if _hinted(result):
            hint = result.leader_hint
            entry["current_leader"] = {
                "leader_id": hint.leader_id,
                "leader_epoch": hint.leader_epoch,
            }
            leaders.add(hint.leader_id)
        topics.setdefault(topic, []).append(entry)
    return {
        "responses": [{"name": t, "partition_responses": ps} for t, ps in topics.items()],
        "throttle_time": 0,
        # KIP-951: where the hinted leaders are, so the client need not ask Metadata.
        "node_endpoints": kafka_brokers(ctx, [b for b in brokers if b.node_id in leaders]),
    }


def _failed(code: int, message: str) -> dict[str, Any]:
    return {
        "error_code": code,
        "error_message": message,
        "base_offset": -1,
        "log_append_time": -1,
        "log_start_offset": -1,
        "record_errors": [],
    }


# -- v0-2: advertised, refused (KAFKA-18659) -----------------------------------------------
# Kafka's ProduceRequest.json / ProduceResponse.json at v0-2, in kio's dataclass form so the
# schema codec reads and writes them; kio itself starts at v3.


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyPartition:
    __flexible__: ClassVar[bool] = False
    index: int = dataclasses.field(metadata={"kafka_type": "int32"})
    records: bytes | None = dataclasses.field(metadata={"kafka_type": "records"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyTopic:
    __flexible__: ClassVar[bool] = False
    name: str = dataclasses.field(metadata={"kafka_type": "string"})
    partition_data: tuple[_LegacyPartition, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyRequest:
    __flexible__: ClassVar[bool] = False
    acks: int = dataclasses.field(metadata={"kafka_type": "int16"})
    timeout_ms: int = dataclasses.field(metadata={"kafka_type": "int32"})
    topic_data: tuple[_LegacyTopic, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyPartitionAnswer:
    __flexible__: ClassVar[bool] = False
    index: int = dataclasses.field(metadata={"kafka_type": "int32"})
    error_code: int = dataclasses.field(metadata={"kafka_type": "int16"})
    base_offset: int = dataclasses.field(metadata={"kafka_type": "int64"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyPartitionAnswerV2:
    __flexible__: ClassVar[bool] = False
    index: int = dataclasses.field(metadata={"kafka_type": "int32"})
    error_code: int = dataclasses.field(metadata={"kafka_type": "int16"})
    base_offset: int = dataclasses.field(metadata={"kafka_type": "int64"})
    log_append_time_ms: int = dataclasses.field(metadata={"kafka_type": "int64"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyTopicAnswer:
    __flexible__: ClassVar[bool] = False
    name: str = dataclasses.field(metadata={"kafka_type": "string"})
    partition_responses: tuple[_LegacyPartitionAnswer, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyTopicAnswerV2:
    __flexible__: ClassVar[bool] = False
    name: str = dataclasses.field(metadata={"kafka_type": "string"})
    partition_responses: tuple[_LegacyPartitionAnswerV2, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyAnswerV0:
    __flexible__: ClassVar[bool] = False
    responses: tuple[_LegacyTopicAnswer, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyAnswerV1:
    __flexible__: ClassVar[bool] = False
    responses: tuple[_LegacyTopicAnswer, ...]
    throttle_time_ms: int = dataclasses.field(metadata={"kafka_type": "int32"}, default=0)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LegacyAnswerV2:
    __flexible__: ClassVar[bool] = False
    responses: tuple[_LegacyTopicAnswerV2, ...]
    throttle_time_ms: int = dataclasses.field(metadata={"kafka_type": "int32"}, default=0)


_LEGACY_ANSWERS: Final = (_LegacyAnswerV0, _LegacyAnswerV1, _LegacyAnswerV2)


def refuse_legacy(header: RequestHeader, body: bytes) -> bytes | None:
    """UNSUPPORTED_VERSION for every partition of a Produce v0-2 (None: acks=0, close)."""
    request, end = decode(_LegacyRequest, body)
    if end != len(body):
        raise SchemaDecodeError(f"{len(body) - end} bytes after the request")
    if request.acks == 0:
        return None
    code = int(ErrorCode.UNSUPPORTED_VERSION)
    answer = {
        "responses": [
            {
                "name": t.name,
                "partition_responses": [
                    {
                        "index": p.index,
                        "error_code": code,
                        "base_offset": -1,
                        "log_append_time_ms": -1,
                    }
                    for p in t.partition_data
                ],
            }
            for t in request.topic_data
        ]
    }
    return bytes(encode(_LEGACY_ANSWERS[header.api_version], answer))
