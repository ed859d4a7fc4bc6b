"""The `_schemas` topic as the registry sees it: create it, read it, append to it.

Everything goes through the broker's front-end seam (``logd.broker.seam``) as the broker
itself (``BROKER``: the registry's clients are checked against their subjects, not against
`_schemas`, the registry's own business as Karapace's topic is Karapace's). The topic is
created compacted with one partition and ``min(3, brokers)`` replicas; appends are acks=all
(committed by a Raft majority, fsynced) and only succeed on the partition's leader -- which
is therefore the registry's one writer.

Reads come from this broker's own replica (``BrokerSeam.fetch_replica``: up to its high
watermark, the Raft commit point), so every broker keeps its own applied copy and goes on
serving reads while the leader is gone -- the case a registry must survive. Chosen over
tailing the leader through ``fetch``: that needs a reachable leader for every read, and
costs a network hop per record per broker for data the broker already holds. A broker
that hosts no replica (more than three brokers) reads through the leader instead.

Ownership: the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from logd.broker.api import (
    Acks,
    ClusterMetadata,
    FetchPartitionRequest,
    FetchPartitionResult,
    NewTopic,
)
from logd.broker.seam import BROKER, BrokerSeam
from logd.errors import (
    NotLeaderOrFollowerError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.records.builder import BatchBuilder
from logd.records.decoder import decode_records
from logd.records.header import parse_header
from logd.records.reader import split_batches

__all__ = ["SCHEMAS_TOPIC", "LogRecord", "SchemaLog"]

SCHEMAS_TOPIC = "_schemas"
_READ_BYTES = 4 * 1024 * 1024
#: Compacted (Confluent's and Karapace's `_schemas` are): the last record per key stays,
#: a hard delete's tombstones go after ``delete.retention.ms``; the NOOP id floor (one key)
#: keeps the highest id given, so none is given twice after compaction.
_COMPACTED = {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}
_APPEND_TIMEOUT_MS = 30_000


@dataclasses.dataclass(frozen=True, slots=True)
class LogRecord:
    offset: int
    key: bytes | None
    value: bytes | None


class SchemaLog:
    """Reads and appends `_schemas` through the broker's ``seam``."""

    def __init__(self, seam: BrokerSeam) -> None:
        self.seam = seam
        self.node_id = seam.node_id
        #: `_schemas`' high watermark at the last read that answered (-1: none yet; 0 while
        #: the topic does not exist).
        self.high_watermark = -1

    async def _metadata(self) -> ClusterMetadata:
        return await self.seam.metadata([SCHEMAS_TOPIC], include_internal=True, caller=BROKER)

    async def ensure_topic(self) -> None:
        """Create `_schemas` if missing (every registry tries; the first one wins)."""
        meta = await self._metadata()
        if meta.topics and meta.topics[0].error is None:
            return
        replicas = max(1, min(3, len(meta.brokers)))
        topic = NewTopic(SCHEMAS_TOPIC, 1, replicas, _COMPACTED)
        (result,) = await self.seam.create_topics([topic], caller=BROKER)
        if result.error is not None and not isinstance(result.error, TopicAlreadyExistsError):
            raise result.error

    async def leadership(self) -> tuple[int, int] | None:
        """(leader, leader epoch) of `_schemas` as this broker's metadata has it: the
        leader is the registry's writer. None while the topic has no leader (or none).
        A look-up in the broker's metadata, not a metadata answer: the writer watch asks
        five times a second on every broker (issue 22: 1-3 % of a loaded broker's loop)."""
        return self.seam.partition_leader(SCHEMAS_TOPIC, 0, caller=BROKER)

    async def writer_id(self) -> int | None:
        """The broker that leads `_schemas` (the writer), None while there is none."""
        leadership = await self.leadership()
        return None if leadership is None else leadership[0]

    async def read(self, offset: int, max_wait_ms: int) -> tuple[list[LogRecord], int]:
        """Committed records from ``offset`` (waiting up to ``max_wait_ms`` for some) and
        the offset to read next, from this broker's replica (else the leader's); raises the
        broker's LogdError (no replica here and no reachable leader ...). The next offset
        passes batches without records for the registry too (Raft's control batches)."""
        request = [FetchPartitionRequest(SCHEMAS_TOPIC, 0, offset, _READ_BYTES)]
        result: FetchPartitionResult | None = None
        for read in (self.seam.fetch_replica, self.seam.fetch):
            (result,) = await read(
                request, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=_READ_BYTES,
                caller=BROKER,
            )  # fmt: skip
            if not isinstance(result.error, NotLeaderOrFollowerError):
                break
        assert result is not None
        if result.error is None:
            self.high_watermark = result.high_watermark
        elif isinstance(result.error, UnknownTopicOrPartitionError):
            self.high_watermark = 0  # no registry write yet: nothing to catch up on
        return _decoded(result, offset)

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        """Append ``records`` as one batch, acks=all; the offset of the last one."""
        builder = BatchBuilder()
        now_ms = int(time.time() * 1000)
        for key, value in records:
            builder.append(now_ms, key, value)
        result = await self.seam.produce(
            SCHEMAS_TOPIC, 0, Acks.ALL, builder.build(), _APPEND_TIMEOUT_MS,
            caller=BROKER,
        )  # fmt: skip
        if result.error is not None:
            raise result.error
        return result.base_offset + len(records) - 1


def _decoded(result: FetchPartitionResult, offset: int) -> tuple[list[LogRecord], int]:
    if result.error is not None:
        raise result.error
    batches = split_batches(result.records).batches
    if not batches:
        return [], offset
    records = [
        LogRecord(r.offset, r.key, r.value)
        for r in decode_records(result.records, start_offset=offset)
    ]
    return records, max(offset, parse_header(batches[-1]).next_offset)
