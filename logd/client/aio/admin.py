"""The asyncio admin client: topics, configs, partitions, the cluster.

Calls go to the controller when the metadata names one (with replication, topic changes
are decided there), else to any broker that answers; NOT_CONTROLLER refreshes the
metadata and tries again until ``request_timeout_ms``. Per-topic errors in an answer are
raised, the first one first (confluent-kafka returns futures per topic; one exception
naming the topic is what a script wants).

Not thread-safe: use it from the event loop it was started on. The sync
:class:`logd.client.Admin` runs one in a background thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from logd.client.config import AdminConfig, parse_config
from logd.client.group.admin import GroupAdmin
from logd.client.group.types import GroupDescription, GroupListing
from logd.client.transport.connection import Connection, ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.rpc import error_from_proto
from logd.client.types import (
    BrokerDecommission,
    BrokerInfo,
    ClusterConfig,
    ClusterInfo,
    ClusterMetadata,
    ConfigEntry,
    ControllerQuorum,
    NewTopic,
    PartitionInfo,
    PartitionLeader,
    PartitionMove,
    TopicDescription,
    TopicListing,
    TopicPartition,
)
from logd.clock import Clock, SystemClock
from logd.errors import (
    BrokerUnavailableError,
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    LeaderNotAvailableError,
    LogdError,
    NetworkError,
    NotControllerError,
    NotLeaderOrFollowerError,
)
from logd.v1 import admin_pb2

__all__ = ["AsyncAdmin"]

T = TypeVar("T")


def _names(names: Iterable[str] | str, what: str = "topic names") -> list[str]:
    if isinstance(names, str):
        names = [names]
    out = list(names)
    for name in out:
        if not isinstance(name, str) or not name:
            raise InvalidTopicError(f"{what} must be non-empty strings, got {name!r}")
    return out


class AsyncAdmin:
    """Topic and cluster administration. Loop-owned; see the module docstring."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self.config: AdminConfig = parse_config(AdminConfig, config, options)
        self._clock = clock or SystemClock()
        self._pool: ConnectionPool | None = None
        self._metadata: Metadata | None = None
        self._groups: GroupAdmin | None = None

    async def start(self) -> None:
        """Connect (BrokerUnavailableError naming the addresses when none answers)."""
        if self._pool is not None:
            return
        self._pool = ConnectionPool(self.config, max_message_bytes=16 << 20)
        self._metadata = Metadata(self._pool, self._clock, self.config.metadata_max_age_ms)
        self._groups = GroupAdmin(self._pool, self._metadata, self.config, self._clock)
        try:
            await self._metadata.fetch([])
        except BaseException:
            await self.close()
            raise

    @property
    def _md(self) -> Metadata:
        if self._metadata is None:
            raise NetworkError("the admin client is not started (use `async with` or start())")
        return self._metadata

    async def _call(self, call: Callable[[Connection], Awaitable[T]]) -> T:
        """``call`` on the controller (else any broker), again after NOT_CONTROLLER."""
        md = self._md
        assert self._pool is not None
        deadline = self._clock.monotonic() + self.config.request_timeout_ms / 1000.0
        while True:
            controller = md.cache.address(md.cache.controller_id)
            try:
                return await self._pool.call_any(call, [controller] if controller else [])
            except NotControllerError:
                if self._clock.monotonic() >= deadline:
                    raise
                await asyncio.sleep(self.config.retry_backoff_ms / 1000.0)
                await md.fetch([])

    # -- topics ------------------------------------------------------------------------------

    async def create_topics(self, topics: Iterable[NewTopic], validate_only: bool = False) -> None:
        """Create topics; raises the first error (TopicAlreadyExistsError, InvalidTopicError...)."""
        items = list(topics)
        request = admin_pb2.CreateTopicsRequest(
            topics=[_new_topic(t) for t in items],
            validate_only=bool(validate_only),
            timeout_ms=self.config.request_timeout_ms,
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.CreateTopics, request))
        _raise_first(resp.topics)

    async def delete_topics(self, names: Iterable[str] | str) -> None:
        request = admin_pb2.DeleteTopicsRequest(
            names=_names(names), timeout_ms=self.config.request_timeout_ms
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.DeleteTopics, request))
        _raise_first(resp.topics)

    async def list_topics(self, include_internal: bool = False) -> list[TopicListing]:
        request = admin_pb2.ListTopicsRequest(include_internal=bool(include_internal))
        resp: Any = await self._call(lambda c: c.unary(c.admin.ListTopics, request))
        return sorted(
            (
                TopicListing(t.name, t.partitions, t.replication_factor, t.internal)
                for t in resp.topics
            ),
            key=lambda t: t.name,
        )

    async def describe_topics(self, names: Iterable[str] | str) -> list[TopicDescription]:
        request = admin_pb2.DescribeTopicsRequest(names=_names(names))
        resp: Any = await self._call(lambda c: c.unary(c.admin.DescribeTopics, request))
        out: list[TopicDescription] = []
        for t in resp.topics:
            err = error_from_proto(t.error)
            if err is not None:
                raise err
            parts = sorted(
                (
                    PartitionInfo(
                        p.partition, p.leader_id, p.leader_epoch, list(p.replicas),
                        list(p.isr), p.log_start_offset, p.high_watermark,
                        p.cleanable_ratio, p.last_clean_ms,
                    )
                    for p in t.partitions
                ),
                key=lambda p: p.partition,
            )  # fmt: skip
            configs = {c.name: ConfigEntry(c.value, c.is_default) for c in t.configs}
            out.append(TopicDescription(t.name, t.internal, parts, configs))
        return out

    async def alter_configs(
        self,
        topic: str,
        set: Mapping[str, str] | None = None,
        delete: Iterable[str] | None = None,
        validate_only: bool = False,
    ) -> None:
        """Set and/or delete (back to default) topic configs, by Kafka's names."""
        (name,) = _names([topic])
        to_set = dict(set or {})
        for key, value in to_set.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidConfigError(f"configs are str=str, got {key!r}={value!r}")
        request = admin_pb2.AlterConfigsRequest(
            topic=name,
            set=to_set,
            delete=_names(delete or [], "config names"),
            validate_only=bool(validate_only),
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.AlterConfigs, request))
        _raise(resp.error)

    async def create_partitions(
        self, topic: str, total_count: int, validate_only: bool = False
    ) -> None:
        """Grow ``topic`` to ``total_count`` partitions (keys will map differently)."""
        (name,) = _names([topic])
        if isinstance(total_count, bool) or not isinstance(total_count, int) or total_count < 1:
            raise InvalidPartitionsError(f"total_count must be an int >= 1, got {total_count!r}")
        request = admin_pb2.CreatePartitionsRequest(
            topic=name, total_count=total_count, validate_only=bool(validate_only)
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.CreatePartitions, request))
        _raise(resp.error)

    # -- leadership --------------------------------------------------------------------------

    async def transfer_leadership(
        self, topic: str, partition: int, to: int | None = None, timeout_ms: int | None = None
    ) -> PartitionLeader:
        """Move ``topic-partition``'s leadership to broker ``to`` (None: its preferred
        replica, the first of its replicas) and return once ``to`` leads. Raises
        InvalidReplicaAssignmentError when ``to`` is not a replica, ReplicaNotAvailableError
        when it is not in sync, RequestTimedOutError when it did not take over within
        ``timeout_ms`` (the broker's default, 10 s, when None) or Raft's election timeout.
        A leadership that moves meanwhile is followed until ``request_timeout_ms``."""
        (name,) = _names([topic])
        for value, what in ((partition, "partition"), (to, "to"), (timeout_ms, "timeout_ms")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):  # fmt: skip
                raise InvalidRequestError(f"{what} must be an int >= 0, got {value!r}")
        request = admin_pb2.TransferLeadershipRequest(
            topic=name, partition=partition, target=-1 if to is None else to,
            timeout_ms=timeout_ms or 0,
        )  # fmt: skip
        # The broker waits for the new leader: the call's deadline covers that wait.
        wait_s = (timeout_ms or 10_000) / 1000.0 + self.config.request_timeout_ms / 1000.0
        md = self._md
        assert self._pool is not None
        deadline = self._clock.monotonic() + self.config.request_timeout_ms / 1000.0
        while True:
            await md.fetch([name])
            leader = md.cache.leader_address(name, partition)

            async def call(c: Connection) -> Any:
                return await c.unary_with_timeout(c.admin.TransferLeadership, request, wait_s)

            try:
                resp: Any = await self._pool.call_any(call, [leader] if leader else [])
                _raise(resp.error)
            except (NotLeaderOrFollowerError, LeaderNotAvailableError, BrokerUnavailableError):
                # The leadership moved (or was moving) while we asked: ask the new leader.
                if self._clock.monotonic() >= deadline:
                    raise
                await asyncio.sleep(self.config.retry_backoff_ms / 1000.0)
                continue
            return PartitionLeader(name, partition, resp.leader_id, resp.leader_epoch)

    # -- partition moves (issue 23) -----------------------------------------------------------

    async def move_partition(
        self, topic: str, partition: int, to: Iterable[int], *, throttle: int = 0
    ) -> None:
        """Start moving ``topic-partition``'s replicas to the brokers ``to`` (the first is
        its preferred leader). Returns once the move is in the metadata; the partition's
        leader then adds the new replicas, lets them catch up -- at most ``throttle``
        bytes a second (0: no limit; Kafka's replication throttle) --, swaps the voters
        and drops the old replicas (see ``list_partition_moves``).
        ReassignmentInProgressError while the partition moves already."""
        (name,) = _names([topic])
        target = list(to)
        for value in [partition, throttle, *target]:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequestError(
                    f"partition, throttle and brokers must be ints >= 0: {value!r}"
                )
        request = admin_pb2.MovePartitionRequest(
            topic=name, partition=partition, to=target, throttle=throttle
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.MovePartition, request))
        _raise(resp.error)

    async def cancel_partition_move(self, topic: str, partition: int) -> None:
        """Move ``topic-partition`` back to the replicas it had before its move."""
        (name,) = _names([topic])
        if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
            raise InvalidRequestError(f"partition must be an int >= 0, got {partition!r}")
        request = admin_pb2.MovePartitionRequest(topic=name, partition=partition, cancel=True)
        resp: Any = await self._call(lambda c: c.unary(c.admin.MovePartition, request))
        _raise(resp.error)

    async def list_partition_moves(self, topics: Iterable[str] = ()) -> list[PartitionMove]:
        """The partition moves in progress (of ``topics``; empty: of every topic)."""
        names = _names(list(topics)) if topics else []
        request = admin_pb2.ListPartitionMovesRequest(topics=names)
        resp: Any = await self._call(lambda c: c.unary(c.admin.ListPartitionMoves, request))
        _raise(resp.error)
        return [_move(m) for m in resp.moves]

    async def balance_partitions(
        self, *, throttle: int = 0, max_moves: int = 0
    ) -> list[PartitionMove]:
        """Even out the replicas and the leaders over the live brokers not being
        decommissioned, by count and by bytes, no two replicas of a partition on one rack
        while there are enough racks (a broker just added takes its share): starts at most
        ``max_moves`` moves (0: the broker's default, 64), each catching up at most
        ``throttle`` bytes/s (0: the cluster's ``partition.move.throttle``), and at most as
        many preferred-leader changes (``PartitionMove.leader_only``: same brokers, another
        first; the controller then transfers the leadership). Returns them (follow the
        moves with ``list_partition_moves``). Run it again once they are done to go on: an
        empty answer means balanced."""
        for value in (throttle, max_moves):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequestError(f"throttle and max_moves must be ints >= 0: {value!r}")
        request = admin_pb2.BalancePartitionsRequest(throttle=throttle, max_moves=max_moves)
        resp: Any = await self._call(lambda c: c.unary(c.admin.BalancePartitions, request))
        _raise(resp.error)
        return [_move(m) for m in resp.moves]

    # -- the controller quorum (issue 23) ------------------------------------------------------

    async def add_controller_voter(self, node_id: int) -> None:
        """Make broker ``node_id`` a controller voter (KRaft's AddVoter). Returns once the
        new quorum is in the metadata; follow it with ``describe_controller_quorum``."""
        await self._alter_voters(add=node_id)

    async def remove_controller_voter(self, node_id: int) -> None:
        """Demote controller voter ``node_id`` to a learner (KRaft's RemoveVoter)."""
        await self._alter_voters(remove=node_id)

    async def _alter_voters(self, *, add: int = -1, remove: int = -1) -> None:
        for value in (add, remove):
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise InvalidRequestError(f"a broker id is an int >= 0, got {value!r}")
        request = admin_pb2.AlterControllerVotersRequest(add=add, remove=remove)
        resp: Any = await self._call(lambda c: c.unary(c.admin.AlterControllerVoters, request))
        _raise(resp.error)

    async def describe_controller_quorum(self) -> ControllerQuorum:
        request = admin_pb2.DescribeControllerQuorumRequest()
        resp: Any = await self._call(lambda c: c.unary(c.admin.DescribeControllerQuorum, request))
        _raise(resp.error)
        return ControllerQuorum(
            resp.leader_id, tuple(resp.voters), tuple(resp.learners), tuple(resp.target)
        )

    # -- decommissioning brokers (issue 23) ----------------------------------------------------

    async def decommission_broker(self, node_id: int) -> None:
        """Decommission broker ``node_id``: every replica it hosts moves to the other brokers
        (see ``list_decommissions``); nothing new is placed on it. Returns once that is in
        the metadata. InvalidReplicationFactorError when the other brokers could not hold a
        partition it hosts at its replication factor."""
        await self._decommission(node_id, recommission=False)

    async def recommission_broker(self, node_id: int) -> None:
        """Undo ``decommission_broker``: the drain stops; the moves off it still in
        progress go back."""
        await self._decommission(node_id, recommission=True)

    async def _decommission(self, node_id: int, *, recommission: bool) -> None:
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 0:
            raise InvalidRequestError(f"a broker id is an int >= 0, got {node_id!r}")
        request = admin_pb2.DecommissionBrokerRequest(node_id=node_id, recommission=recommission)
        resp: Any = await self._call(lambda c: c.unary(c.admin.DecommissionBroker, request))
        _raise(resp.error)

    async def unregister_broker(self, node_id: int) -> None:
        """Remove broker ``node_id`` from the cluster for good, once it is decommissioned,
        drained (``list_decommissions`` shows 0 partitions) and stopped (Kafka's
        UnregisterBroker). BrokerIdNotRegisteredError for an unknown id; InvalidRequestError
        while it is alive, not decommissioned, hosts a replica or is a controller voter. To
        bring it back, start it with an empty data directory and ``--join``."""
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 0:
            raise InvalidRequestError(f"a broker id is an int >= 0, got {node_id!r}")
        request = admin_pb2.UnregisterBrokerRequest(node_id=node_id)
        resp: Any = await self._call(lambda c: c.unary(c.admin.UnregisterBroker, request))
        _raise(resp.error)

    async def list_decommissions(self) -> list[BrokerDecommission]:
        """The brokers being decommissioned: what each still hosts (0: drained)."""
        request = admin_pb2.ListDecommissionsRequest()
        resp: Any = await self._call(lambda c: c.unary(c.admin.ListDecommissions, request))
        _raise(resp.error)
        return [BrokerDecommission(b.node_id, b.replicas, b.moving) for b in resp.brokers]

    # -- the cluster's dynamic configs (issue 23) ----------------------------------------------

    async def alter_cluster_configs(
        self,
        set_configs: Mapping[str, str] | None = None,
        delete: Iterable[str] = (),
        *,
        validate_only: bool = False,
    ) -> None:
        """Set (``set_configs``) and delete (``delete``: back to each broker's own value)
        dynamic configs cluster-wide, e.g. ``{"partition.move.throttle": "10000000"}``;
        every broker applies them without a restart. Returns once the metadata holds them.
        InvalidConfigError for a key that is not dynamic or a bad value."""
        configs = dict(set_configs or {})
        request = admin_pb2.AlterClusterConfigsRequest(
            set=configs, delete=list(delete), validate_only=validate_only
        )
        resp: Any = await self._call(lambda c: c.unary(c.admin.AlterClusterConfigs, request))
        _raise(resp.error)

    async def describe_cluster_configs(self) -> list[ClusterConfig]:
        """Every dynamic cluster config with the value the answering broker applies."""
        request = admin_pb2.DescribeClusterConfigsRequest()
        resp: Any = await self._call(lambda c: c.unary(c.admin.DescribeClusterConfigs, request))
        _raise(resp.error)
        return [ClusterConfig(c.name, c.value, c.source) for c in resp.configs]

    # -- the cluster -------------------------------------------------------------------------

    async def describe_cluster(self) -> ClusterInfo:
        request = admin_pb2.DescribeClusterRequest()
        resp: Any = await self._call(lambda c: c.unary(c.admin.DescribeCluster, request))
        brokers = [
            BrokerInfo(
                b.node_id,
                b.host,
                b.port,
                b.alive,
                b.rack,
                b.degraded,
                b.warning,
                b.disk_free_bytes,
                b.disk_total_bytes,
                b.disk_reserve_bytes,
                b.log_bytes,
                b.draining,
            )
            for b in resp.brokers
        ]
        brokers.sort(key=lambda b: b.node_id)
        return ClusterInfo(resp.cluster_id, resp.controller_id, brokers)

    async def metadata(
        self, topics: Iterable[str] | None = None, include_internal: bool = False
    ) -> ClusterMetadata:
        """The raw Metadata answer (every topic when ``topics`` is None)."""
        names = None if topics is None else _names(topics)
        return await self._md.fetch(names, include_internal=include_internal)

    # -- consumer groups ---------------------------------------------------------------------

    @property
    def _g(self) -> GroupAdmin:
        if self._groups is None:
            raise NetworkError("the admin client is not started (use `async with` or start())")
        return self._groups

    async def list_groups(self) -> list[GroupListing]:
        """Every consumer group of the cluster (asks every broker), sorted by id."""
        return await self._g.list_groups()

    async def describe_groups(self, group_ids: Iterable[str] | str) -> list[GroupDescription]:
        """State, members, and per partition: committed offset, log end offset, lag, owner."""
        return await self._g.describe_groups(group_ids)

    async def delete_groups(self, group_ids: Iterable[str] | str) -> None:
        """Delete groups that have no members, with their offsets; raises the first error."""
        await self._g.delete_groups(group_ids)

    async def alter_group_offsets(
        self, group_id: str, offsets: Iterable[TopicPartition] | Mapping[TopicPartition, int]
    ) -> None:
        """Set the committed offsets of a group without live members (NonEmptyGroupError
        while it has some)."""
        await self._g.alter_group_offsets(group_id, offsets)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        self._metadata = None
        self._groups = None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> AsyncAdmin:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _new_topic(t: object) -> Any:
    if not isinstance(t, NewTopic):
        raise InvalidRequestError(f"create_topics wants NewTopic objects, got {t!r}")
    (name,) = _names([t.name])
    for count, what, error in (
        (t.num_partitions, "num_partitions", InvalidPartitionsError),
        (t.replication_factor, "replication_factor", InvalidReplicationFactorError),
    ):
        if isinstance(count, bool) or not isinstance(count, int) or (count < 1 and count != -1):
            raise error(f"{what} must be >= 1 or -1 (the default), got {count!r}")
    configs = dict(t.config)
    for key, value in configs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidConfigError(f"topic configs are str=str, got {key!r}={value!r}")
    return admin_pb2.NewTopic(
        name=name,
        partitions=max(t.num_partitions, 0),
        replication_factor=max(t.replication_factor, 0),
        configs=configs,
    )


def _raise(error: Any) -> None:
    err = error_from_proto(error)
    if err is not None:
        raise err


def _raise_first(results: Iterable[Any]) -> None:
    for r in results:
        err: LogdError | None = error_from_proto(r.error)
        if err is not None:
            raise err


def _move(m: Any) -> PartitionMove:
    bytes_left = m.bytes_left if m.HasField("bytes_left") else -1
    return PartitionMove(
        m.topic, m.partition, tuple(m.replicas), tuple(m.adding), tuple(m.removing), m.throttle,
        bytes_left,
    )  # fmt: skip
