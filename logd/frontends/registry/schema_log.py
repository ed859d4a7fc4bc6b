"""The `_schemas` topic as the registry sees it: create it, read it, append to it.

Everything goes through the broker (the core today, its front-end seam once it lands):
the topic is created compacted with one partition and ``min(3, brokers)`` replicas;
appends are acks=all (committed by a Raft majority, fsynced) and only succeed on the
partition's leader — which is therefore the registry's one writer; reads come from this
broker's own replica.

Ownership: the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Protocol

from logd.broker.api import (
    Acks,
    ClusterMetadata,
    FetchPartitionRequest,
    FetchPartitionResult,
    NewTopic,
    ProduceResult,
    TopicResult,
)
from logd.errors import InvalidConfigError, TopicAlreadyExistsError
from logd.records.builder import BatchBuilder
from logd.records.decoder import decode_records

__all__ = ["SCHEMAS_TOPIC", "LogRecord", "SchemaLog", "SchemaLogCore"]

SCHEMAS_TOPIC = "_schemas"
_READ_BYTES = 4 * 1024 * 1024
_COMPACTED = {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}
# A broker without log compaction yet: never delete anything (the NOOP id floor and the
# tombstones then stay too, which changes nothing but the topic's size).
_KEPT_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
_APPEND_TIMEOUT_MS = 30_000


class SchemaLogCore(Protocol):
    """The broker calls the registry makes (the core, or the seam that wraps it)."""

    async def produce(
        self, topic: str, partition: int, acks: int, records: bytes, timeout_ms: int = 0
    ) -> ProduceResult: ...

    async def fetch(
        self,
        partitions: Sequence[FetchPartitionRequest],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
    ) -> list[FetchPartitionResult]: ...

    async def metadata(
        self, topics: Sequence[str] = (), *, include_internal: bool = False
    ) -> ClusterMetadata: ...

    async def create_topics(
        self, topics: Sequence[NewTopic], *, validate_only: bool = False
    ) -> list[TopicResult]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class LogRecord:
    offset: int
    key: bytes | None
    value: bytes | None


class SchemaLog:
    """Reads and appends `_schemas` through the broker ``core``."""

    def __init__(self, core: SchemaLogCore, node_id: int) -> None:
        self.core = core
        self.node_id = node_id

    async def ensure_topic(self) -> None:
        """Create `_schemas` if missing (every registry tries; the first one wins)."""
        meta = await self.core.metadata([SCHEMAS_TOPIC], include_internal=True)
        if meta.topics and meta.topics[0].error is None:
            return
        replicas = max(1, min(3, len(meta.brokers)))
        for configs in (_COMPACTED, _KEPT_FOREVER):
            topic = NewTopic(SCHEMAS_TOPIC, 1, replicas, configs)
            (result,) = await self.core.create_topics([topic])
            if not isinstance(result.error, InvalidConfigError):
                break
        if result.error is not None and not isinstance(result.error, TopicAlreadyExistsError):
            raise result.error

    async def writer_id(self) -> int | None:
        """The broker that leads `_schemas` (the writer), None while there is none."""
        meta = await self.core.metadata([SCHEMAS_TOPIC], include_internal=True)
        if not meta.topics or meta.topics[0].error is not None or not meta.topics[0].partitions:
            return None
        leader = meta.topics[0].partitions[0].leader_id
        return leader if leader >= 0 else None

    async def read(self, offset: int, max_wait_ms: int) -> tuple[list[LogRecord], int]:
        """Records from ``offset`` (waiting up to ``max_wait_ms`` for some) and the
        high watermark; raises the broker's LogdError (e.g. not the leader)."""
        request = FetchPartitionRequest(SCHEMAS_TOPIC, 0, offset, _READ_BYTES)
        (result,) = await self.core.fetch(
            [request], max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=_READ_BYTES
        )
        if result.error is not None:
            raise result.error
        records = [
            LogRecord(r.offset, r.key, r.value)
            for r in decode_records(result.records, start_offset=offset)
        ]
        return records, result.high_watermark

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        """Append ``records`` as one batch, acks=all; the offset of the last one."""
        builder = BatchBuilder()
        now_ms = int(time.time() * 1000)
        for key, value in records:
            builder.append(now_ms, key, value)
        result = await self.core.produce(
            SCHEMAS_TOPIC, 0, Acks.ALL, builder.build(), _APPEND_TIMEOUT_MS
        )
        if result.error is not None:
            raise result.error
        return result.base_offset + len(records) - 1
