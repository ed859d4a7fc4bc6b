"""The protocol-neutral broker core (DESIGN.md principle 7): produce, fetch, offsets,
metadata and admin as plain Python methods, with no gRPC type in sight.

A front end parses its wire messages into the types of :mod:`logd.broker.api`, calls these
methods, and maps the answers (and any ``LogdError`` a method raises for a request that
fails as a whole) back to the wire. Per-partition and per-topic failures come back inside
the answers, as Kafka's error codes do.

Every request method is a coroutine, so that a store or a replication layer that must wait
(a controller round trip, say) fits behind the same signatures. Produce is also offered
split in two so that a front end keeps the stream's order: the synchronous
:meth:`BrokerCore.produce_nowait` appends before it returns (no await in between), and
hands back either the answer or a future of it (``acks=all`` waits for the commit).

Ownership: owned by the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from logd.broker.admin import TopicAdmin
from logd.broker.api import (
    NO_LEADER,
    Acks,
    BrokerDecommission,
    ClusterConfig,
    ClusterDescription,
    ClusterMetadata,
    ConfigChange,
    ConfigEntry,
    ControllerQuorum,
    DeleteRecordsQuery,
    DeleteRecordsResult,
    EpochEndQuery,
    EpochEndResult,
    FetchPartitionRequest,
    FetchPartitionResult,
    InitProducerIdResult,
    LeadershipResult,
    ListOffsetsQuery,
    ListOffsetsResult,
    NewTopic,
    OffsetSpec,
    PartitionMeta,
    PartitionMove,
    PartitionProducers,
    ProducerDescription,
    ProduceResult,
    TopicDescription,
    TopicListing,
    TopicMeta,
    TopicPartition,
    TopicResult,
)
from logd.broker.cluster_configs import ClusterConfigs
from logd.broker.commit_answer import (
    DEFAULT_PRODUCE_TIMEOUT_MS,
    MAX_PRODUCE_TIMEOUT_MS,
    CommitAnswer,
    produced,
)
from logd.broker.config import BrokerConfig, config_values
from logd.broker.decommission import Decommissions
from logd.broker.delete_records import delete_records
from logd.broker.fetch import FetchLimits, fetch
from logd.broker.health import BrokerHealth, assess_health
from logd.broker.moves import PartitionMoves
from logd.broker.producer_ids import ProducerIdManager
from logd.broker.quorum import ControllerVoters
from logd.broker.replicas import ReplicaManager
from logd.broker.telemetry import Telemetry
from logd.errors import (
    InvalidRequestError,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    LogdError,
    NotLeaderOrFollowerError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import (
    RESERVED_TOPICS,
    MetadataStore,
    PartitionAssignment,
    check_not_reserved,
)
from logd.storage import validate_topic_name

__all__ = [
    "DEFAULT_PRODUCE_TIMEOUT_MS",
    "MAX_PRODUCE_TIMEOUT_MS",
    "BrokerCore",
    "LeadershipControl",
]

_log = logging.getLogger(__name__)

_ACKS = frozenset(int(a) for a in Acks)


class LeadershipControl(Protocol):
    """Moves partition leadership (``logd.cluster.leadership``: the Raft groups)."""

    async def transfer(
        self, topic: str, partition: int, target: int, timeout_ms: int
    ) -> LeadershipResult: ...


#: How old the health :meth:`BrokerCore.health` answers may be ...
HEALTH_MAX_AGE_S = 0.1
#: ... or this many times as long as the last look took, if that is longer: a look sums
#: every log's size and asks every replica, so with thousands of partitions one costs
#: tens of milliseconds, and every leader hint asked for one -- a failover's thousand
#: leadership changes spent a sixth of the loop on it (issue 21). A look then costs at
#: most 1/HEALTH_COST_RATIO of the loop -- and is never older than HEALTH_MAX_AGE_CAP_S.
#: A change of the disk's state (the space monitor's: ok, low, full) is never hidden: it
#: makes the next answer a fresh look. At 10,000 partitions a look is ~0.1-0.3 s on a
#: loaded machine: a 2 s cap made it a twentieth of an idle broker's CPU, and even below
#: the cap a ratio of 20 let it take a twentieth (asked for by every heartbeat, leader
#: hint and Metadata answer: 25 % of an idle 3,000-partition broker's samples; issue 21).
HEALTH_COST_RATIO = 100
HEALTH_MAX_AGE_CAP_S = 10.0


class BrokerCore:
    """The broker's request handlers over a metadata store and the hosted partitions."""

    def __init__(
        self,
        config: BrokerConfig,
        store: MetadataStore,
        replicas: ReplicaManager,
        leadership: LeadershipControl | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.replicas = replicas
        self.leadership = leadership
        self.admin = TopicAdmin(config, store, replicas)
        self.cluster_configs = ClusterConfigs(store, config)
        self.moves = PartitionMoves(store, self.cluster_configs.move_throttle)
        self.decommissions = Decommissions(store, self.moves)
        self.voters = ControllerVoters(store)
        self._fetch_limits = FetchLimits(config.fetch_max_wait_ms, config.fetch_max_bytes)
        self.producer_ids = ProducerIdManager(store)
        self._draining = False
        #: Running figures every front end reports to and the admin listener reads.
        self.telemetry = Telemetry()
        #: Why the metadata log stopped, if it did (the node wires the controller's).
        self.metadata_failed: Callable[[], str | None] = lambda: None
        #: Why the broker's Raft hard-state journal stopped, if it did (the node wires it).
        self.journal_failed: Callable[[], str | None] = lambda: None
        self._health: tuple[float, BrokerHealth] | None = None
        self._health_max_age = HEALTH_MAX_AGE_S

    def health(self) -> BrokerHealth:
        """This broker's health, protocol-neutral (``logd.broker.health``). Looked at most
        every :data:`HEALTH_MAX_AGE_S` (longer when a look is costly: :data:`HEALTH_COST_RATIO`):
        every Metadata answer and leader hint reports this broker's disk, and the look sums
        every log's size."""
        now = time.monotonic()
        cached = self._health
        if (
            cached is None
            or now - cached[0] >= self._health_max_age
            or cached[1].disk.state is not self.replicas.logs.space.usage.state
        ):
            health = assess_health(self.node_id, self.replicas.logs, self.replicas,
                                   self.metadata_failed, self.journal_failed)  # fmt: skip
            cached = self._health = (now, health)
            took = time.monotonic() - now
            age = min(HEALTH_COST_RATIO * took, HEALTH_MAX_AGE_CAP_S)
            self._health_max_age = max(HEALTH_MAX_AGE_S, age)
        return cached[1]

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def draining(self) -> bool:
        return self._draining

    def begin_drain(self) -> None:
        """Shutting down: waiting fetches answer now with what they have; no new waits."""
        self._draining = True
        for partition in self.replicas:
            partition.close_waiters()

    # -- produce --------------------------------------------------------------------------

    def produce_nowait(
        self,
        topic: str,
        partition: int,
        acks: int,
        records: bytes | bytearray,
        timeout_ms: int = 0,
        on_answer: Callable[[ProduceResult], None] | None = None,
    ) -> ProduceResult | asyncio.Future[ProduceResult]:
        """Append one batch now; the answer, or (acks=all) a future of it.

        ``on_answer`` (acks=all): also called with the answer in the call that makes it --
        the commit's, or the timeout's -- one loop turn before a done callback on the
        future would run (issue 22). It must not raise (what it raises is logged).
        Never raises a LogdError: failures are answered in the ProduceResult.
        """
        try:
            if acks not in _ACKS:
                raise InvalidRequiredAcksError(f"acks must be 0, 1 or -1 (all), not {acks}")
            if topic in RESERVED_TOPICS:
                check_not_reserved(topic, "produce to")
            target = self.replicas.leader(topic, partition)
            waiter = None
            if acks == Acks.ALL:
                waiter = CommitAnswer(asyncio.get_running_loop(), on_answer)
            appended = target.append(records, wait_commit=waiter is not None, waiter=waiter)
        except LogdError as exc:
            return self._produce_error(topic, partition, exc)
        self.telemetry.produced(appended.last_offset - appended.base_offset + 1, len(records))
        if waiter is None:
            return produced(appended)
        return waiter.begin(appended, timeout_ms)

    async def produce(
        self, topic: str, partition: int, acks: int, records: bytes | bytearray, timeout_ms: int = 0
    ) -> ProduceResult:
        answer = self.produce_nowait(topic, partition, acks, records, timeout_ms)
        return answer if isinstance(answer, ProduceResult) else await answer

    def _produce_error(self, topic: str, partition: int, exc: LogdError) -> ProduceResult:
        hint = (
            self.replicas.hint(topic, partition)
            if isinstance(exc, NotLeaderOrFollowerError)
            else None
        )
        return ProduceResult(error=exc, leader_hint=hint)

    async def init_producer_id(self) -> InitProducerIdResult:
        """A new idempotent producer: a fresh producer id at epoch 0 (issue 7). Any broker
        answers, from its block of ids."""
        try:
            producer_id = await self.producer_ids.next_id()
        except LogdError as exc:
            return InitProducerIdResult(error=exc)
        return InitProducerIdResult(producer_id, 0)

    # -- fetch / offsets ------------------------------------------------------------------

    async def fetch(
        self,
        partitions: Sequence[FetchPartitionRequest],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        any_replica: bool = False,
    ) -> list[FetchPartitionResult]:
        """Long-poll fetch (see :mod:`logd.broker.fetch`). ``any_replica``: from this
        broker's own replicas, led here or followed, each up to its own high watermark
        (committed records only); NOT_LEADER_OR_FOLLOWER for a partition this broker hosts
        no replica of. KIP-392's follower fetching, for the broker's own services (the
        schema registry's copy of ``_schemas``)."""
        results = await fetch(
            partitions,
            self.replicas.replica if any_replica else self.replicas.leader,
            self.replicas.hint,
            max_wait_ms=max_wait_ms,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            limits=self._fetch_limits,
            draining=lambda: self._draining,
            any_replica=any_replica,
        )
        if not any_replica:  # the broker's own services' reads are not clients' fetches
            for result in results:
                self.telemetry.fetched(result.records)
        return results

    async def list_offsets(self, queries: Sequence[ListOffsetsQuery]) -> list[ListOffsetsResult]:
        return [self._list_offset(q) for q in queries]

    def _list_offset(self, q: ListOffsetsQuery) -> ListOffsetsResult:
        try:
            target = self.replicas.leader(q.topic, q.partition)
            target.check_leader_epoch(q.current_leader_epoch)
            epoch = target.leader_epoch
            if q.spec == OffsetSpec.EARLIEST:
                offset = target.log_start_offset
                return ListOffsetsResult(q.topic, q.partition, offset=offset, leader_epoch=epoch)
            if q.spec == OffsetSpec.LATEST:
                offset = target.high_watermark
                return ListOffsetsResult(q.topic, q.partition, offset=offset, leader_epoch=epoch)
            if q.spec == OffsetSpec.MAX_TIMESTAMP:
                found = target.max_timestamp_offset()
            elif q.spec == OffsetSpec.TIMESTAMP:
                if q.timestamp_ms < 0:
                    raise InvalidTimestampError(f"timestamp {q.timestamp_ms} is negative")
                found = target.offset_for_timestamp(q.timestamp_ms)
            else:
                raise InvalidRequestError(f"unknown offset spec {q.spec}")
        except LogdError as exc:
            hint = (
                self.replicas.hint(q.topic, q.partition)
                if isinstance(exc, NotLeaderOrFollowerError)
                else None
            )
            return ListOffsetsResult(q.topic, q.partition, error=exc, leader_hint=hint)
        if found is None:
            return ListOffsetsResult(q.topic, q.partition, offset=-1, leader_epoch=epoch)
        return ListOffsetsResult(
            q.topic,
            q.partition,
            offset=found.offset,
            timestamp_ms=found.timestamp,
            leader_epoch=epoch,
        )

    async def delete_records(
        self, queries: Sequence[DeleteRecordsQuery], timeout_ms: int
    ) -> list[DeleteRecordsResult]:
        """Kafka's DeleteRecords, replicated (see :mod:`logd.broker.delete_records`)."""
        return await delete_records(self.replicas, queries, timeout_ms)

    async def offsets_for_leader_epochs(
        self, queries: Sequence[EpochEndQuery]
    ) -> list[EpochEndResult]:
        """Where each asked leader epoch ends (Kafka's OffsetForLeaderEpoch: a consumer
        checks that the log it read was not truncated under it)."""
        return [self._epoch_end(q) for q in queries]

    async def describe_producers(
        self, partitions: Sequence[TopicPartition]
    ) -> list[PartitionProducers]:
        """The idempotent producers each led partition remembers (Kafka's DescribeProducers)."""
        return [self._producers(tp) for tp in partitions]

    def _producers(self, tp: TopicPartition) -> PartitionProducers:
        try:
            target = self.replicas.leader(tp.topic, tp.partition)
        except LogdError as exc:
            return PartitionProducers(tp.topic, tp.partition, error=exc)
        described = tuple(
            ProducerDescription(
                e.producer_id,
                e.epoch,
                e.last_seq,
                e.batches[-1].max_timestamp if e.batches else -1,
            )
            for e in target.producers
        )
        return PartitionProducers(tp.topic, tp.partition, producers=described)

    def _epoch_end(self, q: EpochEndQuery) -> EpochEndResult:
        try:
            target = self.replicas.leader(q.topic, q.partition)
            target.check_leader_epoch(q.current_leader_epoch)
            epoch, end = target.end_offset_for_epoch(q.leader_epoch)
        except LogdError as exc:
            return EpochEndResult(q.topic, q.partition, error=exc)
        return EpochEndResult(q.topic, q.partition, leader_epoch=epoch, end_offset=end)

    # -- metadata -------------------------------------------------------------------------

    async def metadata(
        self,
        topics: Sequence[str] = (),
        *,
        include_internal: bool = False,
        auto_create: bool = False,
    ) -> ClusterMetadata:
        """Brokers and topics; each partition names its leader (this broker, on one node).

        ``auto_create``: the client allows it, and so does ``auto.create.topics.enable``
        (Kafka's default: on): a valid topic that does not exist is created with the
        defaults and answered LEADER_NOT_AVAILABLE until its leaders are known.
        """
        if auto_create and self.config.auto_create_topics_enable and topics:
            await self._auto_create(topics)
        known = self.store.topics()
        if topics:
            names: Sequence[str] = list(dict.fromkeys(topics))
        else:
            names = sorted(n for n, t in known.items() if include_internal or not t.internal)
        return ClusterMetadata(
            cluster_id=self.store.cluster_id,
            controller_id=self.store.controller_id,
            node_id=self.node_id,
            brokers=self.store.brokers(),
            topics=tuple(self._topic_meta(name) for name in names),
        )

    async def _auto_create(self, topics: Sequence[str]) -> None:
        missing = []
        for name in dict.fromkeys(topics):
            if self.store.topic(name) is not None or name in RESERVED_TOPICS:
                continue
            try:
                validate_topic_name(name)
            except LogdError:
                continue  # answered INVALID_TOPIC_EXCEPTION below
            missing.append(NewTopic(name))
        if missing:
            results = await self.admin.create_topics(missing)
            for result in results:
                if result.error is not None and not isinstance(
                    result.error, TopicAlreadyExistsError
                ):
                    _log.info("auto-creating topic %s: %s", result.name, result.error)

    def partition_leader(self, topic: str, partition: int) -> tuple[int, int] | None:
        """(leader, leader epoch) of a partition in this broker's metadata; None while it
        has no leader or does not exist. A look-up: no metadata answer is built."""
        record = self.store.topic(topic)
        if record is None:
            return None
        for a in record.partitions:
            if a.partition == partition:
                return (a.leader_id, a.leader_epoch) if a.leader_id >= 0 else None
        return None

    def topic_name(self, topic_id: str) -> str | None:
        """The name of the topic with this id (32 hex digits), None if there is none."""
        for record in self.store.topics().values():
            if record.topic_id == topic_id:
                return record.name
        return None

    def _topic_meta(self, name: str) -> TopicMeta:
        try:
            validate_topic_name(name)
        except LogdError as exc:
            return TopicMeta(name, error=exc)
        record = self.store.topic(name)
        if record is None:
            return TopicMeta(
                name, error=UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
            )
        partitions = []
        for a in record.partitions:
            shown = a
            if a.leader_id < 0 and TopicPartition(name, a.partition) in self.replicas.uncreated:
                # Leaderless because its log cannot be created here (a full disk): name
                # this broker, so a client's request gets the storage error that says why
                # instead of waiting for a leader that cannot come.
                shown = dataclasses.replace(a, leader_id=self.node_id)
            partitions.append(_partition_meta(shown))
        return TopicMeta(
            name, internal=record.internal, partitions=tuple(partitions), topic_id=record.topic_id
        )

    # -- admin ----------------------------------------------------------------------------

    async def create_topics(
        self, topics: Sequence[NewTopic], *, validate_only: bool = False
    ) -> list[TopicResult]:
        return await self.admin.create_topics(topics, validate_only=validate_only)

    async def delete_topics(self, names: Sequence[str]) -> list[TopicResult]:
        return await self.admin.delete_topics(names)

    async def list_topics(self, *, include_internal: bool = False) -> list[TopicListing]:
        return self.admin.list_topics(include_internal=include_internal)

    async def describe_topics(self, names: Sequence[str]) -> list[TopicDescription]:
        return self.admin.describe_topics(names)

    async def alter_configs(
        self,
        topic: str,
        set_configs: Mapping[str, str],
        delete: Sequence[str],
        *,
        validate_only: bool = False,
    ) -> TopicResult:
        return await self.admin.alter_configs(
            topic, set_configs, delete, validate_only=validate_only
        )

    async def incremental_alter_configs(
        self, topic: str, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> TopicResult:
        return await self.admin.incremental_alter_configs(
            topic, changes, validate_only=validate_only
        )

    async def replace_configs(
        self, topic: str, configs: Mapping[str, str], *, validate_only: bool = False
    ) -> TopicResult:
        return await self.admin.replace_configs(topic, configs, validate_only=validate_only)

    async def create_partitions(
        self, topic: str, total_count: int, *, validate_only: bool = False
    ) -> TopicResult:
        return await self.admin.create_partitions(topic, total_count, validate_only=validate_only)

    async def transfer_leadership(
        self, topic: str, partition: int, target: int = NO_LEADER, timeout_ms: int = 0
    ) -> LeadershipResult:
        """Hand ``topic-partition``'s leadership to broker ``target`` (-1: its preferred
        replica), forwarded to the current leader; answered once the target leads."""
        if self.leadership is None:
            error = InvalidRequestError("this broker does not replicate: no leadership to move")
            return LeadershipResult(error=error)
        return await self.leadership.transfer(topic, partition, target, timeout_ms)

    def broker_configs(self) -> list[ConfigEntry]:
        """This broker's config: every key, its value, whether it is the default."""
        return [ConfigEntry(k, v or "", d) for k, v, d in config_values(self.config)]

    def describe_cluster_configs(self) -> list[ClusterConfig]:
        """The dynamic cluster configs as this broker applies them (``cluster_configs``)."""
        return self.cluster_configs.describe()

    async def alter_cluster_configs(
        self, configs: Mapping[str, str], delete: Sequence[str], *, validate_only: bool = False
    ) -> None:
        """Set / delete dynamic configs cluster-wide (``broker.cluster_configs``)."""
        await self.cluster_configs.alter(configs, delete, validate_only=validate_only)

    async def move_partition(
        self,
        topic: str,
        partition: int,
        to: Sequence[int],
        throttle: int = 0,
        *,
        keep_replication_factor: bool = False,
        replace: bool = False,
    ) -> None:
        """Start moving ``topic-partition`` to the brokers ``to`` (``broker.moves``)."""
        await self.moves.move(
            topic, partition, to, throttle,
            keep_replication_factor=keep_replication_factor, replace=replace,
        )  # fmt: skip

    async def cancel_move(self, topic: str, partition: int) -> None:
        await self.moves.cancel(topic, partition)

    def list_moves(self, topics: Sequence[str] = ()) -> list[PartitionMove]:
        return self.moves.list(topics)

    async def decommission_broker(self, node: int, *, recommission: bool = False) -> None:
        """Drain broker ``node`` (or stop draining it): ``broker.decommission``."""
        if recommission:
            await self.decommissions.recommission(node)
        else:
            await self.decommissions.decommission(node)

    async def unregister_broker(self, node: int) -> None:
        """Remove a drained, stopped broker for good: ``broker.decommission``."""
        await self.decommissions.unregister(node)

    async def balance_partitions(
        self, throttle: int = 0, max_moves: int = 0
    ) -> list[PartitionMove]:
        """Even out the replicas over the brokers (``broker.moves``)."""
        return await self.moves.balance(throttle, max_moves)

    async def alter_controller_voters(self, add: int = -1, remove: int = -1) -> None:
        """Add a controller voter and/or remove one (``broker.quorum``)."""
        await self.voters.alter(add, remove)

    def describe_quorum(self) -> ControllerQuorum:
        return self.voters.describe()

    def list_decommissions(self) -> list[BrokerDecommission]:
        return self.decommissions.list()

    async def describe_cluster(self) -> ClusterDescription:
        return ClusterDescription(
            cluster_id=self.store.cluster_id,
            controller_id=self.store.controller_id,
            node_id=self.node_id,
            brokers=self.store.brokers(),
        )


def _partition_meta(a: PartitionAssignment) -> PartitionMeta:
    return PartitionMeta(a.partition, a.leader_id, a.leader_epoch, a.replicas, a.isr)
