"""The public value types of the logd clients (docs: /work/notes/client-api.md).

Shapes follow confluent-kafka (``TopicPartition`` with offset sentinels) and aiokafka
(``RecordMetadata``). Every type here is immutable or owned by one reader; all are safe to
pass between threads once built.

``ConsumerRecord`` is the only one made per record on a hot path (replay, issue 8): it has
``__slots__``, is built from positional arguments by the record decoder, and keeps its
headers undecoded until they are asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from logd.errors import LogdError

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_INVALID",
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "BrokerInfo",
    "ClusterInfo",
    "ClusterMetadata",
    "ConfigEntry",
    "ConsumerRecord",
    "DeliveryCallback",
    "Header",
    "NewTopic",
    "PartitionInfo",
    "PartitionMetadata",
    "RecordMetadata",
    "TopicDescription",
    "TopicListing",
    "TopicMetadata",
    "TopicPartition",
]

#: Offset sentinels, as confluent-kafka numbers them.
OFFSET_BEGINNING: Final = -2
OFFSET_END: Final = -1
OFFSET_INVALID: Final = -1001

#: ``ConsumerRecord.timestamp_type``: Kafka's TimestampType ids.
TIMESTAMP_CREATE_TIME: Final = 0
TIMESTAMP_LOG_APPEND_TIME: Final = 1

Header: TypeAlias = tuple[str, bytes | None]


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    """A partition of a topic, with an offset whose meaning depends on the call."""

    topic: str
    partition: int
    offset: int = OFFSET_INVALID


@dataclasses.dataclass(frozen=True, slots=True)
class RecordMetadata:
    """Where a produced record landed. ``timestamp`` is the log-append time when the topic
    uses LogAppendTime, else the record's create time (as Kafka's producer reports it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int


#: ``on_delivery(err, md)``: exactly one of the two is None.
DeliveryCallback: TypeAlias = "Callable[[LogdError | None, RecordMetadata | None], object]"


class ConsumerRecord:
    """One consumed record. Built by the decoder; read-only by convention.

    ``headers`` are kept as the decoder produced them and turned into a list on first
    access, so a consumer that never looks at headers pays nothing for them.
    """

    __slots__ = (
        "_headers",
        "key",
        "leader_epoch",
        "offset",
        "partition",
        "timestamp",
        "timestamp_type",
        "topic",
        "value",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        timestamp_type: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] | None = None,
        leader_epoch: int = -1,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestamp_type = timestamp_type
        self.key = key
        self.value = value
        self._headers = headers
        self.leader_epoch = leader_epoch

    @property
    def headers(self) -> list[Header]:
        h = self._headers
        if h is None:
            return []
        if type(h) is not list:
            h = list(h)
            self._headers = h
        return h

    def __repr__(self) -> str:
        return (
            f"ConsumerRecord(topic={self.topic!r}, partition={self.partition}, "
            f"offset={self.offset}, timestamp={self.timestamp}, key={self.key!r}, "
            f"value={_short(self.value)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConsumerRecord):
            return NotImplemented
        return (
            self.topic == other.topic
            and self.partition == other.partition
            and self.offset == other.offset
            and self.timestamp == other.timestamp
            and self.timestamp_type == other.timestamp_type
            and self.key == other.key
            and self.value == other.value
            and self.headers == other.headers
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-by-construction, compared by value


def _short(value: bytes | None, limit: int = 40) -> str:
    if value is None or len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}...({len(value)} bytes)"


@dataclasses.dataclass(frozen=True)
class NewTopic:
    """A topic to create; -1 means "the broker's default"."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    config: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicListing:
    name: str
    partitions: int
    replication_factor: int
    internal: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigEntry:
    value: str
    is_default: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition as ``describe_topics`` reports it (leader -1 while leaderless)."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    log_start_offset: int
    high_watermark: int


@dataclasses.dataclass(frozen=True, slots=True)
class TopicDescription:
    name: str
    internal: bool
    partitions: list[PartitionInfo]
    configs: dict[str, ConfigEntry]


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    alive: bool = True
    rack: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterInfo:
    cluster_id: str
    controller_id: int
    brokers: list[BrokerInfo]


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionMetadata:
    """A partition in a Metadata answer: who leads it (-1: nobody right now)."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    offline_replicas: list[int] = dataclasses.field(default_factory=list)
    error: LogdError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    partitions: list[PartitionMetadata]
    internal: bool = False
    error: LogdError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterMetadata:
    """The raw Metadata answer: brokers, controller, and each topic's partitions and leaders."""

    cluster_id: str
    controller_id: int
    brokers: dict[int, BrokerInfo]
    topics: dict[str, TopicMetadata]
    orig_broker_id: int = -1
