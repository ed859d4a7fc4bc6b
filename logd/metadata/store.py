"""The cluster metadata the broker serves from: topics, their partitions' placement, configs.

:class:`MetadataStore` is the seam between the broker core and whatever keeps this metadata
durable. On one node that is :class:`~logd.broker.metadata_file.FileMetadataStore`, a file in
the data directory; with replication (DESIGN.md principle 5) it becomes a store whose writes
are proposals to the controller quorum and whose state is the applied metadata log. Either
way the contract is the same (KRaft's ``MetadataPublisher`` has this shape):

* reads (:meth:`~MetadataStore.topics`, :meth:`~MetadataStore.topic`) are synchronous and
  return the last *applied* image — never a write still in flight;
* writes are coroutines that return once the change is durable and applied, and raise a
  ``LogdError`` (``TopicAlreadyExistsError``, ``UnknownTopicOrPartitionError``,
  ``NotControllerError`` …) when it cannot be made;
* every applied change, local or not, reaches the listeners as ``(before, after)``:
  ``(None, t)`` created, ``(t, None)`` deleted, ``(t0, t1)`` changed. The replica manager is
  such a listener: it creates, reconfigures and deletes logs from the deltas, so a topic
  created through another broker's controller write appears here the same way.

Producer ids (issue 7). :meth:`MetadataStore.allocate_producer_ids` hands out a block of
ids that no one — no broker, no earlier or later run of this one — is ever given again:
the store persists a high-water mark and moves it past the block *before* returning it, so
a crash can lose ids (a gap) but never reuse one. Brokers serve ``InitProducerId`` from
their block and come back for another when it runs out (Kafka's ``ProducerIdManager`` with
``AllocateProducerIds`` to the KRaft controller, KIP-730).

The model types are frozen; a change is a new object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from logd.errors import InvalidTopicError
from logd.metadata.types import NO_LEADER, BrokerMeta, ControllerQuorum, LeaderHint

__all__ = [
    "METADATA_TOPIC",
    "RESERVED_TOPICS",
    "MetadataListener",
    "MetadataStore",
    "PartitionAssignment",
    "TopicRecord",
    "check_not_reserved",
    "is_internal_topic",
    "leader_hint_for",
]


#: The controller's own log (``<data-dir>/__cluster_metadata-0``): never a topic of the image,
#: never hosted as a partition, never deleted as a stray (issue 5).
METADATA_TOPIC = "__cluster_metadata"

#: Topics only logd itself writes, grows or deletes: a client record in
#: ``__consumer_offsets`` could corrupt a group's state, and more partitions would move every
#: group to another coordinator without its offsets.
RESERVED_TOPICS = frozenset({METADATA_TOPIC, "__consumer_offsets"})


def check_not_reserved(name: str, action: str) -> None:
    """Refuse a client's ``action`` on a topic logd keeps for itself."""
    if name in RESERVED_TOPICS:
        raise InvalidTopicError(f"topic {name!r} is internal to logd: clients cannot {action} it")


def is_internal_topic(name: str) -> bool:
    """Internal topics (``__consumer_offsets`` …) start with two underscores, as Kafka's."""
    return name.startswith("__")


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionAssignment:
    """Where one partition lives and who leads it.

    A move in progress (issue 23, KRaft's PartitionRecord shape): ``replicas`` holds every
    broker that hosts the partition while it moves, the target first; ``adding`` the ones
    joining (learners until they catch up), ``removing`` the ones leaving (their data is
    deleted once the move completes). The target is ``replicas`` minus ``removing``.

    ``throttle``: the joining replicas catch up at most this many bytes a second (0: no
    limit; Kafka's replication throttle). ``throttle_follows``: the move follows the
    cluster's ``partition.move.throttle`` as it changes (drain and balance moves that asked
    for none; ``throttle`` is its value when the move started).

    Invariant: ``leader_id`` is -1 or one of ``replicas``; ``isr`` ⊆ ``replicas``;
    ``adding`` and ``removing`` are disjoint subsets of ``replicas``.
    """

    partition: int
    replicas: tuple[int, ...]
    leader_id: int
    leader_epoch: int = 0
    isr: tuple[int, ...] = ()
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()
    throttle: int = 0
    throttle_follows: bool = False

    def __post_init__(self) -> None:
        assert self.leader_id == -1 or self.leader_id in self.replicas, self
        assert set(self.isr) <= set(self.replicas), self
        assert set(self.adding) <= set(self.replicas), self
        assert set(self.removing) <= set(self.replicas), self
        assert not set(self.adding) & set(self.removing), self
        assert self.throttle >= 0, self

    @property
    def moving(self) -> bool:
        """A move is in progress."""
        return bool(self.adding or self.removing)

    @property
    def target(self) -> tuple[int, ...]:
        """The replicas once the move (if any) completes."""
        gone = set(self.removing)
        return tuple(r for r in self.replicas if r not in gone)

    def moving_to(
        self, target: Sequence[int], throttle: int = 0, follows: bool = False
    ) -> PartitionAssignment:
        """This placement (no move in progress) moving to ``target``: hosted on both sets
        (the target first); the joining replicas catch up at most ``throttle`` bytes a
        second (0: no limit; ``follows``: the cluster's throttle, as it changes)."""
        kept = tuple(target)
        leaving = tuple(r for r in self.replicas if r not in kept)
        joining = tuple(r for r in kept if r not in self.replicas)
        replicas = kept + leaving
        return PartitionAssignment(
            self.partition, replicas, replicas[0], 0, replicas, joining, leaving, throttle,
            follows,
        )  # fmt: skip

    @property
    def move(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int, bool]:
        """What identifies the placement and its move: two equal ones are the same move."""
        return (self.replicas, self.adding, self.removing, self.throttle, self.throttle_follows)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicRecord:
    """A topic as the metadata knows it. ``configs`` holds only the topic's overrides."""

    name: str
    topic_id: str
    partitions: tuple[PartitionAssignment, ...]
    configs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        assert [p.partition for p in self.partitions] == list(range(len(self.partitions)))

    @property
    def internal(self) -> bool:
        return is_internal_topic(self.name)

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0


def leader_hint_for(brokers: Sequence[BrokerMeta], assignment: PartitionAssignment) -> LeaderHint:
    """Who leads a partition and at which address, from the brokers the metadata knows."""
    if assignment.leader_id == NO_LEADER:
        return LeaderHint(leader_epoch=assignment.leader_epoch)
    for broker in brokers:
        if broker.node_id == assignment.leader_id:
            host = f"[{broker.host}]" if ":" in broker.host else broker.host
            return LeaderHint(
                assignment.leader_id, f"{host}:{broker.port}", assignment.leader_epoch
            )
    return LeaderHint(assignment.leader_id, "", assignment.leader_epoch)


#: Called with ``(before, after)`` for every applied change, one at a time, in order.
MetadataListener = Callable[[TopicRecord | None, TopicRecord | None], Awaitable[None]]


class MetadataStore(Protocol):
    """Durable cluster metadata; see the module doc for the contract. Owned by the loop."""

    @property
    def cluster_id(self) -> str: ...

    @property
    def controller_id(self) -> int:
        """The node that accepts metadata writes; -1 while none is known."""
        ...

    def brokers(self) -> tuple[BrokerMeta, ...]: ...

    def topics(self) -> Mapping[str, TopicRecord]: ...

    def topic(self, name: str) -> TopicRecord | None: ...

    def add_listener(self, listener: MetadataListener) -> None: ...

    async def create_topic(self, record: TopicRecord) -> None:
        """Add a topic; TopicAlreadyExistsError if one of that name exists."""
        ...

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        """Replace a topic by ``change(current)`` (configs, added partitions), applied to the
        latest image so that concurrent updates are never lost; ``change`` may raise a
        LogdError to refuse. UnknownTopicOrPartitionError if there is no such topic."""
        ...

    async def delete_topic(self, name: str) -> None:
        """Remove a topic; UnknownTopicOrPartitionError if there is none of that name."""
        ...

    def quorum(self) -> ControllerQuorum:
        """The controller quorum as this broker sees it (issue 23)."""
        ...

    def move_bytes_left(self, topic: str, partition: int) -> int:
        """The bytes a moving partition's joining replicas still lack, as its leader last
        reported (issue 23); -1 when not known."""
        ...

    def partition_bytes(self, topic: str, partition: int) -> int:
        """The bytes of a partition's log as its leader last reported them, rounded down to
        4 significant bits, 0 below 1 MiB (issue 23's balancer); 0 when not known."""
        ...

    async def set_controller_voters(self, voters: Sequence[int]) -> None:
        """The controller quorum to change to (issue 23); a store of one broker refuses."""
        ...

    async def unregister_broker(self, node_id: int) -> None:
        """Remove broker ``node_id`` from the cluster for good (issue 23): no longer listed,
        even when a configured peer. The caller checked that it holds nothing. A store of
        one broker refuses (InvalidRequestError)."""
        ...

    def cluster_configs(self) -> Mapping[str, str]:
        """The cluster's dynamic configs as the applied metadata says (issue 23: set at
        runtime, read by every broker): name -> value as text."""
        ...

    async def set_cluster_configs(self, configs: Mapping[str, str], delete: Sequence[str]) -> None:
        """Set ``configs`` and delete ``delete`` cluster-wide, in one write (the caller
        checked them). A store of one broker refuses (InvalidRequestError): nothing of it is
        cluster-wide, its config file says it all."""
        ...

    async def set_draining(self, node_id: int, draining: bool) -> None:
        """Start (or end) decommissioning broker ``node_id``: its replicas move to the
        others (issue 23). A store of one broker refuses (InvalidRequestError)."""
        ...

    async def allocate_producer_ids(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` (≥ 1) producer ids never handed out before, durably; returns
        the block's ``(first, last)``, inclusive. Blocks from one store never overlap,
        across restarts and crashes; ids start at 0. A controller-backed store makes this
        one record in the metadata log (the new high-water mark) and returns once it is
        committed and applied; a standby controller raises NotControllerError."""
        ...
