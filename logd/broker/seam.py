"""The front-end seam: everything a front end may ask of the broker, in one typed class.

A front end (``logd.frontends.<name>``: gRPC today; Kafka, the schema registry, HTTP, MQTT
and admin next) imports this module, the request/answer types of :mod:`logd.broker.api` and
:mod:`logd.groups.messages`, ``logd.errors`` and the pure packages -- nothing else of the
broker. Every method takes the :class:`Caller` (who asks, through which listener), so that
authentication, ACLs and quotas are checked here, once, for every door (DESIGN.md "Front ends
and listeners"): :meth:`BrokerSeam.admit` is that one place, and today it admits everyone.

How a new front end plugs in:

1. **One class** implementing ``logd.node.frontends.FrontEnd`` (``async start() ->
   HostPort``: bind the listener -- port 0 allowed -- and start accepting; ``begin_drain()``;
   ``async stop(grace_s)``), built from the node by a factory, and **one registration line**
   in ``logd.node.frontends.FRONT_ENDS`` under its listener's name. Its listener's address is
   a config key and a flag already (``--kafka-listen`` …, ``logd.broker.listeners``).
2. **Requests**: parse the wire message into the api types, build a :class:`Caller` (the
   authenticated principal, the client id, the listener's name), call the seam, write the
   answer. Per-item failures come back inside the answers (``error: LogdError | None``, Kafka
   codes); a request that fails as a whole raises a ``LogdError``. Map both to the wire in
   **one boundary function** of the front end (the gRPC front end: ``errors.translate``), never
   call by call.
3. **Shutdown** (the node drives it, STYLE.md 14): ``begin_drain`` -- stop accepting new
   connections, stop reading new requests from open ones; the node then calls
   :meth:`BrokerSeam.begin_drain` (waiting fetches answer now with what they have, group
   coordinators unload and answer NOT_COORDINATOR), then ``stop(grace_s)``: let the requests in
   flight finish until the deadline, then cancel them and close the sockets.
4. Long polls: :meth:`fetch` waits up to ``max_wait_ms`` on the core's own waiters and ends
   early on drain; a front end needs no timer of its own.

Ownership: the broker's event loop, like the core; not thread-safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from logd.broker import api
from logd.broker.api import (
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
    PartitionMove,
    PartitionProducers,
    ProduceResult,
    TopicDescription,
    TopicListing,
    TopicMeta,
    TopicResult,
)
from logd.broker.browse import BrowseResult, browse, offset_for_time, replica_offsets
from logd.broker.core import BrokerCore
from logd.broker.figures import BrokerFigures, gather
from logd.broker.groups.service import CoordinatorLocation, GroupService
from logd.broker.health import BrokerHealth
from logd.broker.seam_base import ANONYMOUS, BROKER, AdmitAll, Caller, Gate, serve_allowed
from logd.broker.seam_groups import GroupCalls
from logd.broker.security.seam_part import SecuritySeam
from logd.broker.security.services import SecurityServices
from logd.broker.telemetry import Telemetry
from logd.errors import LogdError, UnknownTopicOrPartitionError
from logd.metadata.types import NO_LEADER
from logd.security.quota import QuotaKind

__all__ = [
    "ANONYMOUS",
    "BROKER",
    "AdmitAll",
    "BrokerFigures",  # figures()'s answer, re-exported for front ends
    "BrokerSeam",
    "BrowseResult",  # browse()'s answer
    "Caller",
    "CoordinatorLocation",  # FindCoordinator's answer, re-exported for front ends
    "Gate",
    "Telemetry",  # the instrumentation every front end reports to
]


_topic = attrgetter("topic")
_name = attrgetter("name")


def _tp(x: Any) -> tuple[str, int]:
    return x.topic, x.partition


class _PartitionItem(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


_Item = TypeVar("_Item", bound=_PartitionItem)
_Answer = TypeVar("_Answer")


def _same(name: str) -> str:
    return name


class BrokerSeam(GroupCalls):
    """The broker core and its group service, as a front end sees them."""

    def __init__(
        self,
        core: BrokerCore,
        groups: GroupService,
        gate: Gate | None = None,
        *,
        security: SecurityServices | None = None,
    ) -> None:
        self._core = core
        self._groups = groups
        self._gate: Gate = gate or (security.guard if security is not None else AdmitAll())
        #: Authentication, ACLs, quotas (issue 15); see :class:`SecuritySeam`.
        self.security = SecuritySeam(security)
        #: Running figures: every front end reports each request here at its request
        #: boundary (``Telemetry.request``); the admin listener reads them (issue 20).
        self.telemetry: Telemetry = core.telemetry

    # -- state ----------------------------------------------------------------------------

    @property
    def node_id(self) -> int:
        return self._core.node_id

    @property
    def draining(self) -> bool:
        """Shutting down: a front end stops reading new requests."""
        return self._core.draining

    def begin_drain(self) -> None:
        """Waiting fetches answer now; group coordinators unload (NOT_COORDINATOR)."""
        self._core.begin_drain()
        self._groups.close()

    async def figures(
        self, *, detail: bool = False, groups: bool = True, caller: Caller = ANONYMOUS
    ) -> BrokerFigures:
        """The gauges of a scrape or a health probe, computed now
        (:mod:`logd.broker.figures`); ``detail``: per partition and group partition too;
        ``groups``: the lag of the groups coordinated here."""
        self.admit(caller, "describe_cluster")
        return await gather(self._core, self._groups if groups else None, detail=detail)

    # -- browsing (a person reading a partition: the admin console) ------------------------

    def browse(
        self, topic: str, partition: int, offset: int, max_bytes: int,
        *, caller: Caller = ANONYMOUS,
    ) -> BrowseResult:  # fmt: skip
        """Committed batches from ``offset`` of the replica hosted here, leader or follower
        (:mod:`logd.broker.browse`); NotLeaderOrFollowerError when none is."""
        self.admit(caller, "fetch", (topic,))
        result = browse(self._core.replicas, topic, partition, offset, max_bytes)
        self.security.record(caller, QuotaKind.FETCH, len(result.records))
        return result

    def replica_offsets(
        self, topic: str, partition: int, *, caller: Caller = ANONYMOUS
    ) -> tuple[int, int]:
        """(log start, high watermark) of the replica hosted here."""
        self.admit(caller, "list_offsets", (topic,))
        return replica_offsets(self._core.replicas, topic, partition)

    def offset_for_time(
        self, topic: str, partition: int, timestamp_ms: int, *, caller: Caller = ANONYMOUS
    ) -> int:
        """The first offset at or after ``timestamp_ms`` in the replica hosted here."""
        self.admit(caller, "list_offsets", (topic,))
        return offset_for_time(self._core.replicas, topic, partition, timestamp_ms)

    # -- produce, fetch, offsets ------------------------------------------------------------

    def produce_nowait(
        self,
        topic: str,
        partition: int,
        acks: int,
        records: bytes | bytearray,
        timeout_ms: int = 0,
        *,
        caller: Caller = ANONYMOUS,
        on_answer: Callable[[ProduceResult], None] | None = None,
    ) -> ProduceResult | asyncio.Future[ProduceResult]:
        """Append one batch before returning (a stream keeps its order: no await in
        between); the answer, or (acks=all) a future of it -- and, given ``on_answer``, that
        called with it in the commit's own call (``BrokerCore.produce_nowait``). Never
        raises a LogdError."""
        try:
            self.admit(caller, "produce", (topic,))
        except LogdError as exc:
            return ProduceResult(error=exc)
        self._record(caller, QuotaKind.PRODUCE, len(records))
        return self._core.produce_nowait(topic, partition, acks, records, timeout_ms, on_answer)

    async def produce(
        self,
        topic: str,
        partition: int,
        acks: int,
        records: bytes | bytearray,
        timeout_ms: int = 0,
        *,
        caller: Caller = ANONYMOUS,
    ) -> ProduceResult:
        answer = self.produce_nowait(topic, partition, acks, records, timeout_ms, caller=caller)
        return answer if isinstance(answer, ProduceResult) else await answer

    async def init_producer_id(self, *, caller: Caller = ANONYMOUS) -> InitProducerIdResult:
        self.admit(caller, "init_producer_id")
        return await self._core.init_producer_id()

    async def fetch(
        self,
        partitions: Sequence[FetchPartitionRequest],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        caller: Caller = ANONYMOUS,
    ) -> list[FetchPartitionResult]:
        """Long-poll fetch: answers once ``min_bytes`` are there, ``max_wait_ms`` passed, or
        the broker drains."""
        return await self._fetch(partitions, max_wait_ms, min_bytes, max_bytes, caller, False)

    async def fetch_replica(
        self,
        partitions: Sequence[FetchPartitionRequest],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        caller: Caller = ANONYMOUS,
    ) -> list[FetchPartitionResult]:
        """Long-poll fetch from this broker's own replica of each partition, whether it
        leads it or follows, up to that replica's high watermark: committed records only,
        perhaps fewer than the leader has yet. A partition this broker hosts no replica of
        answers NOT_LEADER_OR_FOLLOWER (read it with :meth:`fetch`). For front ends that
        keep a copy of an internal topic on every broker (the schema registry's
        ``_schemas``) and must go on reading it while its leader is gone."""
        return await self._fetch(partitions, max_wait_ms, min_bytes, max_bytes, caller, True)

    async def _fetch(
        self,
        partitions: Sequence[FetchPartitionRequest],
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        caller: Caller,
        any_replica: bool,
    ) -> list[FetchPartitionResult]:
        results = await self._per_partition(
            caller,
            "fetch",
            partitions,
            lambda kept: self._core.fetch(
                kept,
                max_wait_ms=max_wait_ms,
                min_bytes=min_bytes,
                max_bytes=max_bytes,
                any_replica=any_replica,
            ),
            FetchPartitionResult,
        )
        self._record(caller, QuotaKind.FETCH, sum(len(r.records) for r in results))
        return results

    async def list_offsets(
        self, queries: Sequence[ListOffsetsQuery], *, caller: Caller = ANONYMOUS
    ) -> list[ListOffsetsResult]:
        return await self._per_partition(
            caller, "list_offsets", queries, self._core.list_offsets, ListOffsetsResult
        )

    async def describe_producers(
        self, partitions: Sequence[api.TopicPartition], *, caller: Caller = ANONYMOUS
    ) -> list[PartitionProducers]:
        """The idempotent producers each partition remembers (Kafka's DescribeProducers)."""
        return await self._per_partition(
            caller,
            "describe_producers",
            partitions,
            self._core.describe_producers,
            PartitionProducers,
        )

    async def delete_records(
        self,
        queries: Sequence[DeleteRecordsQuery],
        timeout_ms: int,
        *,
        caller: Caller = ANONYMOUS,
    ) -> list[DeleteRecordsResult]:
        """Delete each partition's records before an offset, for every replica (Kafka's
        DeleteRecords: DELETE on the topic; see ``logd.broker.delete_records``)."""
        return await self._per_partition(
            caller,
            "delete_records",
            queries,
            lambda kept: self._core.delete_records(kept, timeout_ms),
            DeleteRecordsResult,
        )

    async def offsets_for_leader_epochs(
        self, queries: Sequence[EpochEndQuery], *, caller: Caller = ANONYMOUS
    ) -> list[EpochEndResult]:
        """Where each leader epoch (Raft term) ends: a consumer's truncation check."""
        return await self._per_partition(
            caller,
            "offsets_for_leader_epochs",
            queries,
            self._core.offsets_for_leader_epochs,
            EpochEndResult,
        )

    async def _per_partition(
        self,
        caller: Caller,
        action: str,
        items: Sequence[_Item],
        serve: Callable[[list[_Item]], Awaitable[Sequence[_Answer]]],
        refused: Callable[[str, int, LogdError], _Answer],
    ) -> list[_Answer]:
        """A per-partition call answered per item (see ``serve_allowed``): ``refused(topic,
        partition, error)`` for the partitions of a topic the caller may not use."""
        return await serve_allowed(
            items,
            self.refusals(caller, action, {i.topic for i in items}),
            name=_topic,
            key=_tp,
            answer_key=_tp,
            serve=serve,
            refusal=lambda i, error: refused(i.topic, i.partition, error),
        )

    # -- metadata and admin -----------------------------------------------------------------

    async def metadata(
        self,
        topics: Sequence[str] = (),
        *,
        include_internal: bool = False,
        auto_create: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> ClusterMetadata:
        """``auto_create``: the client allows the missing topics it names to be created
        (done only when the broker's ``auto.create.topics.enable`` is on). As Kafka's
        Metadata: a topic named that the caller may not describe is answered
        TOPIC_AUTHORIZATION_FAILED, and so is a missing one it may not create; asked for
        every topic, those it may not describe are left out."""
        if not topics:
            self.admit(caller, "metadata")
            answer = await self._core.metadata((), include_internal=include_internal)
            names = [t.name for t in answer.topics]
            visible = set(self.visible(caller, "list_topics", names))
            return dataclasses.replace(
                answer, topics=tuple(t for t in answer.topics if t.name in visible)
            )
        refused = self.refusals(caller, "metadata", topics)
        kept = [t for t in topics if t not in refused]
        uncreatable: Mapping[str, LogdError] = {}
        if auto_create and kept:
            uncreatable = self.item_refusals(caller, "create_topics", kept)
            creatable = [t for t in kept if t not in uncreatable]
            if creatable:  # creates the missing ones (the answer is the one below)
                await self._core.metadata(creatable, auto_create=True)
        answer = await self._core.metadata(topics, include_internal=include_internal)
        return dataclasses.replace(
            answer, topics=tuple(_visible_meta(t, refused, uncreatable) for t in answer.topics)
        )

    def health(self, *, caller: Caller = ANONYMOUS) -> BrokerHealth:
        """This broker's health (ok, low_space, degraded with the reasons): what an admin
        health endpoint serves (issue 24)."""
        self.admit(caller, "health")
        return self._core.health()

    def partition_leader(
        self, topic: str, partition: int, *, caller: Caller = ANONYMOUS
    ) -> tuple[int, int] | None:
        """(leader, leader epoch) of one partition as this broker's metadata has it (None:
        no leader, no such partition, or one the caller may not describe) -- for a front
        end that watches one partition's leadership several times a second (the registry's
        writer) without building a whole metadata answer each time (issue 22)."""
        if self.refusals(caller, "metadata", (topic,)):
            return None
        return self._core.partition_leader(topic, partition)

    def topic_name(self, topic_id: str, *, caller: Caller = ANONYMOUS) -> str | None:
        """The name of the topic with this id (32 hex digits; Kafka's topic ids), or None."""
        name = self._core.topic_name(topic_id)
        if name is not None and self.refusals(caller, "metadata", (name,)):
            return None  # as unknown: an id does not tell a caller what it may not see
        return name

    def broker_configs(self, *, caller: Caller = ANONYMOUS) -> list[ConfigEntry]:
        """This broker's config, every key with its value (Kafka's DescribeConfigs of a
        broker: DESCRIBE_CONFIGS on the cluster)."""
        self.admit(caller, "describe_broker_configs")
        return self._core.broker_configs()

    def describe_cluster_configs(self, *, caller: Caller = ANONYMOUS) -> list[ClusterConfig]:
        """The dynamic cluster configs as this broker applies them (issue 23; DESCRIBE_CONFIGS
        on the cluster, as a broker's configs)."""
        self.admit(caller, "describe_broker_configs")
        return self._core.describe_cluster_configs()

    async def alter_cluster_configs(
        self,
        configs: Mapping[str, str],
        delete: Sequence[str] = (),
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> None:
        """Set / delete dynamic configs cluster-wide (issue 23; ALTER_CONFIGS on the cluster,
        as Kafka's AlterConfigs of a broker resource); raises a LogdError when refused."""
        self.admit(caller, "alter_broker_configs")
        await self._core.alter_cluster_configs(configs, delete, validate_only=validate_only)

    async def describe_cluster(self, *, caller: Caller = ANONYMOUS) -> ClusterDescription:
        self.admit(caller, "describe_cluster")
        return await self._core.describe_cluster()

    async def create_topics(
        self,
        topics: Sequence[NewTopic],
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> list[TopicResult]:
        return await serve_allowed(
            topics,
            self.refusals(caller, "create_topics", [t.name for t in topics]),
            name=_name,
            key=_name,
            answer_key=_name,
            serve=lambda kept: self._core.create_topics(kept, validate_only=validate_only),
            refusal=lambda t, error: TopicResult(t.name, error),
        )

    async def delete_topics(
        self, names: Sequence[str], *, caller: Caller = ANONYMOUS
    ) -> list[TopicResult]:
        return await serve_allowed(
            names,
            self.refusals(caller, "delete_topics", names),
            name=_same,
            key=_same,
            answer_key=_name,
            serve=self._core.delete_topics,
            refusal=TopicResult,
        )

    async def list_topics(
        self, *, include_internal: bool = False, caller: Caller = ANONYMOUS
    ) -> list[TopicListing]:
        self.admit(caller, "list_topics")
        listed = await self._core.list_topics(include_internal=include_internal)
        visible = set(self.visible(caller, "list_topics", [t.name for t in listed]))
        return [t for t in listed if t.name in visible]

    async def describe_topics(
        self, names: Sequence[str], *, caller: Caller = ANONYMOUS
    ) -> list[TopicDescription]:
        return await serve_allowed(
            names,
            self.refusals(caller, "describe_topics", names),
            name=_same,
            key=_same,
            answer_key=_name,
            serve=self._core.describe_topics,
            refusal=lambda name, error: TopicDescription(name, error=error),
        )

    async def alter_configs(
        self,
        topic: str,
        set_configs: Mapping[str, str],
        delete: Sequence[str],
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> TopicResult:
        if refused := self.refusals(caller, "alter_configs", (topic,)):
            return TopicResult(topic, refused[topic])
        return await self._core.alter_configs(
            topic, set_configs, delete, validate_only=validate_only
        )

    async def incremental_alter_configs(
        self,
        topic: str,
        changes: Sequence[ConfigChange],
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> TopicResult:
        """SET / DELETE / APPEND / SUBTRACT of topic configs (Kafka's IncrementalAlterConfigs)."""
        if refused := self.refusals(caller, "alter_configs", (topic,)):
            return TopicResult(topic, refused[topic])
        return await self._core.incremental_alter_configs(
            topic, changes, validate_only=validate_only
        )

    async def replace_configs(
        self,
        topic: str,
        configs: Mapping[str, str],
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> TopicResult:
        """These overrides and no other (Kafka's legacy AlterConfigs)."""
        if refused := self.refusals(caller, "alter_configs", (topic,)):
            return TopicResult(topic, refused[topic])
        return await self._core.replace_configs(topic, configs, validate_only=validate_only)

    async def create_partitions(
        self,
        topic: str,
        total_count: int,
        *,
        validate_only: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> TopicResult:
        if refused := self.refusals(caller, "create_partitions", (topic,)):
            return TopicResult(topic, refused[topic])
        return await self._core.create_partitions(topic, total_count, validate_only=validate_only)

    async def transfer_leadership(
        self,
        topic: str,
        partition: int,
        target: int = NO_LEADER,
        timeout_ms: int = 0,
        *,
        caller: Caller = ANONYMOUS,
    ) -> LeadershipResult:
        self.admit(caller, "transfer_leadership", (topic,))
        return await self._core.transfer_leadership(topic, partition, target, timeout_ms)

    async def move_partition(
        self,
        topic: str,
        partition: int,
        to: Sequence[int],
        *,
        throttle: int = 0,
        keep_replication_factor: bool = False,
        replace: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> None:
        """Start a partition move (issue 23), the joining replicas catching up at most
        ``throttle`` bytes/s (0: no limit; ``keep_replication_factor``: a target of another
        size is refused; ``replace``: it replaces a move in progress, as Kafka's do);
        raises a LogdError when refused."""
        self.admit(caller, "cluster_admin", (topic,))
        await self._core.move_partition(
            topic, partition, to, throttle,
            keep_replication_factor=keep_replication_factor, replace=replace,
        )  # fmt: skip

    async def cancel_move(self, topic: str, partition: int, *, caller: Caller = ANONYMOUS) -> None:
        self.admit(caller, "cluster_admin", (topic,))
        await self._core.cancel_move(topic, partition)

    def list_moves(
        self, topics: Sequence[str] = (), *, caller: Caller = ANONYMOUS
    ) -> list[PartitionMove]:
        self.admit(caller, "list_moves", ())
        return self._core.list_moves(topics)

    async def decommission_broker(
        self, node: int, *, recommission: bool = False, caller: Caller = ANONYMOUS
    ) -> None:
        """Decommission broker ``node`` (its replicas move away), or recommission it."""
        self.admit(caller, "cluster_admin", ())
        await self._core.decommission_broker(node, recommission=recommission)

    async def unregister_broker(self, node: int, *, caller: Caller = ANONYMOUS) -> None:
        """Remove a decommissioned, stopped broker from the cluster for good (issue 23;
        Kafka's UnregisterBroker: ALTER on the cluster)."""
        self.admit(caller, "cluster_admin", ())
        await self._core.unregister_broker(node)

    async def balance_partitions(
        self, throttle: int = 0, max_moves: int = 0, *, caller: Caller = ANONYMOUS
    ) -> list[PartitionMove]:
        """Start the moves that even out the replicas over the brokers (issue 23)."""
        self.admit(caller, "cluster_admin", ())
        return await self._core.balance_partitions(throttle, max_moves)

    async def alter_controller_voters(
        self, add: int = -1, remove: int = -1, *, caller: Caller = ANONYMOUS
    ) -> None:
        """Add a broker to the controller quorum and/or remove one (issue 23)."""
        self.admit(caller, "cluster_admin", ())
        await self._core.alter_controller_voters(add, remove)

    def describe_quorum(self, *, caller: Caller = ANONYMOUS) -> ControllerQuorum:
        self.admit(caller, "describe_cluster", ())
        return self._core.describe_quorum()

    def list_decommissions(self, *, caller: Caller = ANONYMOUS) -> list[BrokerDecommission]:
        self.admit(caller, "describe_cluster", ())
        return self._core.list_decommissions()


def _visible_meta(
    topic: TopicMeta, refused: Mapping[str, LogdError], uncreatable: Mapping[str, LogdError]
) -> TopicMeta:
    """A topic of a Metadata answer as the caller may see it."""
    if topic.name in refused:
        return TopicMeta(topic.name, error=refused[topic.name])
    if topic.name in uncreatable and isinstance(topic.error, UnknownTopicOrPartitionError):
        return TopicMeta(topic.name, error=uncreatable[topic.name])
    return topic
