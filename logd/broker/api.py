"""The broker core's request and answer types: plain frozen dataclasses, no gRPC.

Every front end (gRPC now, the Kafka wire protocol later; DESIGN.md principle 7) converts its
own messages into these and back. Per-item failures travel as ``error: LogdError | None``
beside the data, as Kafka's responses carry an error code per partition; the front end maps
them to its wire form in one place.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from logd.errors import LogdError
from logd.metadata.types import (
    NO_LEADER,
    BrokerMeta,
    ControllerQuorum,
    Endpoint,
    LeaderHint,
    LeadershipResult,
    TopicPartition,
)

__all__ = [
    "DELETE_TO_HIGH_WATERMARK",
    "NO_LEADER",
    "NO_TIMESTAMP",
    "Acks",
    "BrokerDecommission",
    "BrokerMeta",
    "ClusterConfig",
    "ClusterDescription",
    "ClusterMetadata",
    "ConfigChange",
    "ConfigEntry",
    "ConfigOp",
    "ControllerQuorum",
    "DeleteRecordsQuery",
    "DeleteRecordsResult",
    "Endpoint",
    "EpochEndQuery",
    "EpochEndResult",
    "FetchPartitionRequest",
    "FetchPartitionResult",
    "InitProducerIdResult",
    "LeaderHint",
    "LeadershipResult",
    "ListOffsetsQuery",
    "ListOffsetsResult",
    "NewTopic",
    "OffsetSpec",
    "PartitionDescription",
    "PartitionMeta",
    "PartitionMove",
    "PartitionProducers",
    "ProduceResult",
    "ProducerDescription",
    "TopicDescription",
    "TopicListing",
    "TopicMeta",
    "TopicPartition",
    "TopicResult",
]

NO_TIMESTAMP = -1


class Acks(enum.IntEnum):
    """What a producer waits for (DESIGN.md principle 6); Kafka's numbers."""

    NONE = 0  # fire-and-forget
    LEADER = 1  # the leader appended
    ALL = -1  # committed: fsynced now, a Raft majority once partitions replicate


class OffsetSpec(enum.IntEnum):
    """Kafka ListOffsets' special timestamps, numbered as the proto numbers them."""

    TIMESTAMP = 0
    EARLIEST = 1
    LATEST = 2
    MAX_TIMESTAMP = 3  # the first record with the largest timestamp (Kafka's KIP-734)


# -- produce / fetch / offsets ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ProduceResult:
    base_offset: int = -1
    log_append_time_ms: int = NO_TIMESTAMP
    log_start_offset: int = -1
    error: LogdError | None = None
    leader_hint: LeaderHint | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class InitProducerIdResult:
    """A new idempotent producer's identity (Kafka's InitProducerId answer)."""

    producer_id: int = -1
    producer_epoch: int = -1
    error: LogdError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class FetchPartitionRequest:
    topic: str
    partition: int
    offset: int
    max_bytes: int
    #: The leader epoch the client believes current (-1: unchecked): an older one is
    #: FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (Kafka's KIP-320).
    current_leader_epoch: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class FetchPartitionResult:
    topic: str
    partition: int
    error: LogdError | None = None
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    leader_hint: LeaderHint | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ListOffsetsQuery:
    topic: str
    partition: int
    spec: int  # an OffsetSpec value; anything else is answered with INVALID_REQUEST
    timestamp_ms: int = NO_TIMESTAMP
    current_leader_epoch: int = -1  # as in FetchPartitionRequest


@dataclasses.dataclass(frozen=True, slots=True)
class ListOffsetsResult:
    topic: str
    partition: int
    error: LogdError | None = None
    offset: int = -1
    timestamp_ms: int = NO_TIMESTAMP
    leader_hint: LeaderHint | None = None
    #: The partition's leader epoch (Raft term) when answered.
    leader_epoch: int = -1


#: DeleteRecords' offset meaning "up to the high watermark" (Kafka's -1).
DELETE_TO_HIGH_WATERMARK = -1


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteRecordsQuery:
    """Delete the partition's records before ``offset`` (Kafka's DeleteRecords; -1: before
    the high watermark)."""

    topic: str
    partition: int
    offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteRecordsResult:
    topic: str
    partition: int
    error: LogdError | None = None
    #: The partition's log start offset once the deletion is committed.
    low_watermark: int = -1


# -- metadata -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionMeta:
    partition: int
    leader_id: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()
    error: LogdError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TopicMeta:
    name: str
    internal: bool = False
    partitions: tuple[PartitionMeta, ...] = ()
    error: LogdError | None = None
    #: The topic's id (32 hex digits), "" when unknown.
    topic_id: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ProducerDescription:
    """An idempotent producer a partition remembers (Kafka's DescribeProducers)."""

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionProducers:
    topic: str
    partition: int
    error: LogdError | None = None
    producers: tuple[ProducerDescription, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class EpochEndQuery:
    """Kafka's OffsetForLeaderEpoch for one partition: where ``leader_epoch`` ends."""

    topic: str
    partition: int
    leader_epoch: int
    current_leader_epoch: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class EpochEndResult:
    topic: str
    partition: int
    error: LogdError | None = None
    #: The largest epoch <= the one asked for, and the offset where it ends (-1, -1: none).
    leader_epoch: int = -1
    end_offset: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterMetadata:
    cluster_id: str
    controller_id: int
    node_id: int
    brokers: tuple[BrokerMeta, ...]
    topics: tuple[TopicMeta, ...]


# -- admin --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewTopic:
    name: str
    partitions: int = 0  # 0: the broker's num.partitions
    replication_factor: int = 0  # 0: the broker's default.replication.factor
    configs: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    error: LogdError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TopicListing:
    name: str
    partitions: int
    replication_factor: int
    internal: bool


class ConfigOp(enum.IntEnum):
    """How IncrementalAlterConfigs changes one key (Kafka's numbers)."""

    SET = 0
    DELETE = 1  # back to the default
    APPEND = 2  # list configs: add the values not there yet
    SUBTRACT = 3  # list configs: remove the values


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigChange:
    name: str
    op: int  # a ConfigOp value; anything else is answered with INVALID_REQUEST
    value: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str
    is_default: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A broker key that may be set cluster-wide at runtime (issue 23) and the value the
    answering broker applies: ``source`` is "cluster" (set in the metadata: every broker
    applies it), "static" (this broker's config file or flags) or "default"."""

    name: str
    value: str
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerDecommission:
    """A broker being decommissioned (issue 23): the partitions it still hosts (0: it is
    drained and can be stopped) and how many of them are moving off it now."""

    node_id: int
    replicas: int
    moving: int


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionMove:
    """A partition move in progress (issue 23): every replica hosting it while it moves
    (target first), the ones joining and the ones leaving."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]
    throttle: int = 0  # bytes/s the joining replicas catch up at (0: no limit)
    #: The bytes of the leader's log the joining replicas still lack, summed, as the leader
    #: last reported it (-1: not known yet).
    bytes_left: int = -1

    @property
    def target(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r not in self.removing)


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionDescription:
    partition: int
    leader_id: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    log_start_offset: int = -1
    high_watermark: int = -1
    error: LogdError | None = None
    #: Compacted topics: the cleaner's view of this replica (-1: not compacted / never).
    cleanable_ratio: float = -1.0
    last_clean_ms: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class TopicDescription:
    name: str
    internal: bool = False
    partitions: tuple[PartitionDescription, ...] = ()
    configs: tuple[ConfigEntry, ...] = ()
    error: LogdError | None = None
    topic_id: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterDescription:
    cluster_id: str
    controller_id: int
    node_id: int
    brokers: tuple[BrokerMeta, ...]
