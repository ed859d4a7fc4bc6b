"""The public value types of the logd clients (examples: README.md and docs/patterns.md).

Shapes follow confluent-kafka (``TopicPartition`` with offset sentinels) and aiokafka
(``RecordMetadata``). Every type here is immutable or owned by one reader; all are safe to
pass between threads once built.

``ConsumerRecord`` is the only one made per record on a hot path (replay, issue 8): a tuple
subclass the record decoder builds directly, one object per record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeAlias

if TYPE_CHECKING:
    from logd.errors import LogdError

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_INVALID",
    "OFFSET_STORED",
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "BrokerDecommission",
    "BrokerInfo",
    "ClusterConfig",
    "ClusterInfo",
    "ClusterMetadata",
    "ConfigEntry",
    "ConsumerRecord",
    "ControllerQuorum",
    "DeliveryCallback",
    "Header",
    "NewTopic",
    "PartitionInfo",
    "PartitionKey",
    "PartitionLeader",
    "PartitionMetadata",
    "PartitionMove",
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
#: confluent-kafka's OFFSET_STORED: the committed offset (the group's), else the reset policy.
OFFSET_STORED: Final = -1000

#: ``ConsumerRecord.timestamp_type``: Kafka's TimestampType ids.
TIMESTAMP_CREATE_TIME: Final = 0
TIMESTAMP_LOG_APPEND_TIME: Final = 1

Header: TypeAlias = tuple[str, bytes | None]

PartitionKey: TypeAlias = tuple[str, int]
"""A partition as the client keys its state by it: ``(topic, partition)``. Plain tuples on
the hot paths (the fetcher, the subscription, positions). The one internal
``partitioning.TopicPartition`` of the server's layers (a NamedTuple) is one too, so both
mix in sets and dicts. Not the public :class:`TopicPartition` below, which carries an
offset."""


def _field(index: int, doc: str) -> Any:
    """A read-only attribute that is item ``index`` of the tuple (namedtuple's C getter when
    this Python has it: about half the cost of a property over ``itemgetter``)."""
    try:
        from collections import _tuplegetter  # type: ignore[attr-defined]
    except ImportError:  # another Python: the portable spelling
        return property(itemgetter(index), doc=doc)
    return _tuplegetter(index, doc)


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    """A partition of a topic, with an offset whose meaning depends on the call.

    The public type (confluent-kafka's), and the only meaning of the name inside
    ``logd.client``. Not the internal ``partitioning.TopicPartition`` of the server's layers,
    which has no offset: inside the client a partition is a :data:`PartitionKey`."""

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


class ConsumerRecord(tuple[Any, ...]):
    """One consumed record. Built by the decoder; immutable.

    A tuple subclass without slots of its own, so the record decoder (in C when the
    accelerator is built, see :mod:`logd.records.accel`) makes one object per record and
    nothing else -- replay is the hot path of issue 8. The fields are read by name; the
    tuple's own order is the decoder's, ``(offset, timestamp, key, value, headers, topic,
    partition, timestamp_type, leader_epoch)``, an implementation detail (construct it by
    the signature below). ``headers`` is a new list at each access; the decoded headers are
    kept as they came.

    Equality compares what a record says (topic, partition, offset, timestamp and its type,
    key, value, headers), not the leader epoch it was read under.
    """

    __slots__ = ()

    def __new__(
        cls,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int,
        timestamp_type: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] | None = None,
        leader_epoch: int = -1,
    ) -> ConsumerRecord:
        return tuple.__new__(
            cls,
            (offset, timestamp, key, value, headers, topic, partition, timestamp_type,
             leader_epoch),
        )  # fmt: skip

    if TYPE_CHECKING:
        offset: int
        timestamp: int
        key: bytes | None
        value: bytes | None
        topic: str
        partition: int
        timestamp_type: int
        leader_epoch: int
    else:
        offset = _field(0, "The record's offset in its partition.")
        timestamp = _field(1, "Unix ms: create time, or log-append time (timestamp_type).")
        key = _field(2, "The key, None when the record has none.")
        value = _field(3, "The value, None for a tombstone.")
        topic = _field(5, "The topic.")
        partition = _field(6, "The partition.")
        timestamp_type = _field(7, "TIMESTAMP_CREATE_TIME or TIMESTAMP_LOG_APPEND_TIME.")
        leader_epoch = _field(8, "The partition leader epoch of the batch it came in.")

    @property
    def headers(self) -> list[Header]:
        h: Sequence[Header] | None = self[4]
        return [] if h is None else list(h)

    def __getnewargs__(self) -> tuple[Any, ...]:
        """The constructor's arguments (pickle and copy rebuild records through __new__)."""
        return (self.topic, self.partition, self.offset, self.timestamp, self.timestamp_type,
                self.key, self.value, self[4], self.leader_epoch)  # fmt: skip

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

    def __ne__(self, other: object) -> bool:
        # tuple's own __ne__ would otherwise answer (it compares the raw tuples).
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the class it replaced


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
    #: Compacted topics: dirty share of what the cleaner may clean, and when this replica
    #: was last cleaned (unix ms); -1 for other topics (and never cleaned).
    cleanable_ratio: float = -1.0
    last_clean_ms: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionLeader:
    """Who leads a partition after ``Admin.transfer_leadership``, in which epoch."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int


@dataclasses.dataclass(frozen=True, slots=True)
class ControllerQuorum:
    """The controller quorum (``Admin.describe_controller_quorum``): its leader (-1: none
    known), the voters and learners of the metadata group now, and the voters it is
    changing to (= ``voters``: no change in progress)."""

    leader_id: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    target: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A dynamic cluster config (``Admin.describe_cluster_configs``) and the value the
    answering broker applies; ``source``: "cluster" (set at runtime: every broker applies
    it), "static" (that broker's config file or flags) or "default"."""

    name: str
    value: str
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerDecommission:
    """A broker being decommissioned (``Admin.list_decommissions``): the partitions it
    still hosts (0: drained, it can be stopped) and how many are moving off it now."""

    node_id: int
    replicas: int
    moving: int


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionMove:
    """A partition move in progress (``Admin.list_partition_moves``): every replica
    hosting it while it moves (the target first), the ones joining and the ones leaving."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]
    throttle: int = 0  # bytes/s the joining replicas catch up at (0: no limit)
    #: Bytes the joining replicas still lack, summed, as the partition's leader last
    #: reported them (-1: not known yet).
    bytes_left: int = -1

    @property
    def target(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r not in self.removing)

    @property
    def leader_only(self) -> bool:
        """A balancer's preferred-leader change (``Admin.balance_partitions``): the same
        brokers, another one first; no data moves."""
        return not self.adding and not self.removing


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
    #: Why the broker is degraded (a disk below its reserve, an offline log ...); "" if not.
    degraded: str = ""
    #: Its low-space alert; "" if none.
    warning: str = ""
    #: Its data directory's disk and what its logs hold, as it last reported (-1: unknown).
    disk_free_bytes: int = -1
    disk_total_bytes: int = -1
    disk_reserve_bytes: int = -1
    log_bytes: int = -1
    #: Being decommissioned: its replicas move to the other brokers (issue 23).
    draining: bool = False

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
