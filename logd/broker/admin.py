"""Topic administration: create, delete, list, describe, alter configs, add partitions.

Each operation checks its input (names by storage's validator, configs by
:class:`~logd.broker.topic_config.TopicConfig`, counts against the broker's bounds), then
writes through the :class:`~logd.metadata.store.MetadataStore`; the replica manager, a
listener of the store, turns the change into logs. So the same code serves one node today
and a controller-backed store later (issue 5). Per-topic failures are returned beside the
topic (Kafka's per-topic error codes), never raised. Replicas are placed by
``partitioning.placement`` (load-aware, leaders spread), whose errors are translated here.

Ownership: used on the broker's event loop; holds no state of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Final

from logd.broker.api import (
    ConfigChange,
    ConfigOp,
    NewTopic,
    PartitionDescription,
    TopicDescription,
    TopicListing,
    TopicPartition,
    TopicResult,
)
from logd.broker.config import BrokerConfig
from logd.broker.replicas import ReplicaManager
from logd.broker.topic_config import TOPIC_CONFIG_KEYS, TopicConfig
from logd.errors import (
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidReplicaAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    LogdError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import (
    MetadataStore,
    PartitionAssignment,
    TopicRecord,
    check_not_reserved,
)
from logd.metadata.types import BrokerMeta
from logd.storage import validate_topic_name
from logd.storage.cleaner import log_stats
from partitioning import errors as placement_errors
from partitioning import placement

__all__ = ["OFF_LOOP_PARTITIONS", "TopicAdmin"]

#: A topic created with at least this many partitions is placed on a worker thread: its
#: placement and records take ~0.2 s of CPU at 10,000 partitions -- seconds of wall time
#: on a loaded machine, during which a loop that holds them sends no heartbeat and the
#: controller loses its leadership mid-create (issue 21). The worker shares the GIL but
#: gives it back every few milliseconds, so the loop keeps ticking.
OFF_LOOP_PARTITIONS: Final = 1000


def _racks(brokers: Sequence[BrokerMeta]) -> dict[int, str]:
    """The brokers' racks (issue 23: placement puts a partition's replicas on distinct
    racks while there are enough)."""
    return {b.node_id: b.rack for b in brokers if b.rack}


def _placed(
    replica_lists: Sequence[tuple[int, ...]], first: int
) -> tuple[PartitionAssignment, ...]:
    """Assignments for partitions ``first, first+1, …``, each led by its preferred replica."""
    return tuple(
        PartitionAssignment(first + i, replicas, replicas[0], 0, replicas)
        for i, replicas in enumerate(replica_lists)
    )


def _translate(exc: placement_errors.PartitioningError) -> LogdError:
    """``partitioning/`` raises its own errors (it imports nothing of logd): map them here."""
    if isinstance(exc, placement_errors.InvalidReplicationFactor):
        return InvalidReplicationFactorError(str(exc))
    if isinstance(exc, placement_errors.InvalidPartitionCount):
        return InvalidPartitionsError(str(exc))
    return InvalidReplicaAssignmentError(str(exc))


class TopicAdmin:
    """The admin operations over a metadata store and the hosted partitions."""

    def __init__(self, config: BrokerConfig, store: MetadataStore, replicas: ReplicaManager):
        self._config = config
        self._store = store
        self._replicas = replicas

    # -- create / delete ------------------------------------------------------------------

    async def create_topics(
        self, topics: Sequence[NewTopic], *, validate_only: bool = False
    ) -> list[TopicResult]:
        names = [t.name for t in topics]
        results = []
        for topic in topics:
            try:
                if names.count(topic.name) > 1:
                    raise InvalidRequestError(f"topic {topic.name!r} appears twice in the request")
                record = await self._new_record(topic)
                if not validate_only:
                    await self._store.create_topic(record)
            except LogdError as exc:
                results.append(TopicResult(topic.name, exc))
            else:
                results.append(TopicResult(topic.name))
        return results

    async def _new_record(self, topic: NewTopic) -> TopicRecord:
        validate_topic_name(topic.name)
        partitions = topic.partitions or self._config.num_partitions
        self._check_partition_count(partitions)
        factor = topic.replication_factor or self._config.default_replication_factor
        brokers = [b.node_id for b in self._store.brokers() if not b.draining]  # issue 23
        racks = _racks(self._store.brokers())
        if factor < 1 or factor > len(brokers):
            raise InvalidReplicationFactorError(
                f"replication factor {factor} must be between 1 and the number of brokers "
                f"({len(brokers)})"
            )
        configs = dict(topic.configs)
        TopicConfig.resolve(configs, self._config.topic_defaults)  # raises InvalidConfigError
        if self._store.topic(topic.name) is not None:
            raise TopicAlreadyExistsError(f"topic {topic.name!r} already exists")
        loads = self._loads()

        def build() -> TopicRecord:  # pure: what it reads was copied above
            try:
                replicas = placement.assign_replicas(partitions, factor, brokers, loads, racks)
            except placement_errors.PartitioningError as exc:
                raise _translate(exc) from None
            return TopicRecord(topic.name, uuid.uuid4().hex, _placed(replicas, 0), configs)

        if partitions < OFF_LOOP_PARTITIONS:
            return build()
        return await asyncio.to_thread(build)

    def _loads(self, but: str = "") -> list[tuple[int, ...]]:
        """The replica lists of every partition (of every topic but ``but``): placement
        spreads a new topic over the brokers that hold least."""
        return [
            a.replicas for t in self._store.topics().values() if t.name != but for a in t.partitions
        ]

    def _check_partition_count(self, count: int) -> None:
        limit = self._config.max_partitions_per_topic
        if not 1 <= count <= limit:
            raise InvalidPartitionsError(
                f"{count} partitions: a topic has between 1 and {limit} (max.partitions.per.topic)"
            )

    async def delete_topics(self, names: Sequence[str]) -> list[TopicResult]:
        results = []
        for name in names:
            try:
                validate_topic_name(name)
                check_not_reserved(name, "delete")
                await self._store.delete_topic(name)
            except LogdError as exc:
                results.append(TopicResult(name, exc))
            else:
                results.append(TopicResult(name))
        return results

    # -- read -----------------------------------------------------------------------------

    def list_topics(self, *, include_internal: bool = False) -> list[TopicListing]:
        return [
            TopicListing(t.name, len(t.partitions), t.replication_factor, t.internal)
            for t in sorted(self._store.topics().values(), key=lambda t: t.name)
            if include_internal or not t.internal
        ]

    def describe_topics(self, names: Sequence[str]) -> list[TopicDescription]:
        """The named topics; no names: every topic but the internal ones."""
        if not names:
            topics = self._store.topics()
            names = sorted(n for n, t in topics.items() if not t.internal)
        return [self._describe(name) for name in names]

    def _describe(self, name: str) -> TopicDescription:
        try:
            validate_topic_name(name)
        except LogdError as exc:
            return TopicDescription(name, error=exc)
        record = self._store.topic(name)
        if record is None:
            return TopicDescription(
                name, error=UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
            )
        config = self._replicas.topic_config(record)
        return TopicDescription(
            name,
            internal=record.internal,
            partitions=tuple(self._describe_partition(name, a) for a in record.partitions),
            configs=config.entries(record.configs),
            topic_id=record.topic_id,
        )

    def _describe_partition(self, topic: str, a: PartitionAssignment) -> PartitionDescription:
        hosted = self._replicas.get(TopicPartition(topic, a.partition))
        start = hosted.log_start_offset if hosted is not None else -1
        hw = hosted.high_watermark if hosted is not None else -1
        ratio, last_clean = -1.0, -1
        if hosted is not None and hosted.config.log.compact:
            try:
                stats = log_stats(hosted.log)
            except LogdError:
                pass  # offline: the partition's other answers say so
            else:
                ratio, last_clean = stats.cleanable_ratio, stats.last_clean_ms
        return PartitionDescription(
            a.partition, a.leader_id, a.leader_epoch, a.replicas, a.isr, start, hw,
            cleanable_ratio=ratio, last_clean_ms=last_clean,
        )  # fmt: skip

    # -- change ---------------------------------------------------------------------------

    async def alter_configs(
        self,
        topic: str,
        set_configs: Mapping[str, str],
        delete: Sequence[str],
        *,
        validate_only: bool = False,
    ) -> TopicResult:
        """Kafka's IncrementalAlterConfigs: set some keys, return others to their default."""
        try:
            validate_topic_name(topic)
            both = sorted(set(set_configs) & set(delete))
            if both:
                raise InvalidRequestError(f"config {both[0]!r} is both set and deleted")
            unknown = sorted(set(delete) - set(TOPIC_CONFIG_KEYS))
            if unknown:
                raise InvalidConfigError(f"unknown topic config {unknown[0]!r}")

            def change(record: TopicRecord) -> TopicRecord:
                configs = {k: v for k, v in record.configs.items() if k not in delete}
                configs.update(set_configs)
                TopicConfig.resolve(configs, self._config.topic_defaults)
                return dataclasses.replace(record, configs=configs)

            current = self._existing(topic)
            change(current)  # validate now, so validate_only answers the same as a real run
            if not validate_only:
                await self._store.update_topic(topic, change)
        except LogdError as exc:
            return TopicResult(topic, exc)
        return TopicResult(topic)

    async def incremental_alter_configs(
        self, topic: str, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> TopicResult:
        """Kafka's IncrementalAlterConfigs: SET, DELETE (back to the default), and APPEND /
        SUBTRACT of values for list configs (``cleanup.policy``), applied in order."""
        try:
            validate_topic_name(topic)
            names = [c.name for c in changes]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise InvalidRequestError(f"config {twice[0]!r} appears twice in the request")
            defaults = self._config.topic_defaults

            def change(record: TopicRecord) -> TopicRecord:
                configs = _changed(record.configs, changes, defaults)
                TopicConfig.resolve(configs, defaults)
                return dataclasses.replace(record, configs=configs)

            change(self._existing(topic))  # validate now: validate_only answers the same
            if not validate_only:
                await self._store.update_topic(topic, change)
        except LogdError as exc:
            return TopicResult(topic, exc)
        return TopicResult(topic)

    async def replace_configs(
        self, topic: str, configs: Mapping[str, str], *, validate_only: bool = False
    ) -> TopicResult:
        """Kafka's (legacy) AlterConfigs: these overrides, every other key back to its
        default."""
        try:
            validate_topic_name(topic)
            TopicConfig.resolve(configs, self._config.topic_defaults)
            self._existing(topic)
            if not validate_only:
                await self._store.update_topic(
                    topic, lambda record: dataclasses.replace(record, configs=dict(configs))
                )
        except LogdError as exc:
            return TopicResult(topic, exc)
        return TopicResult(topic)

    async def create_partitions(
        self, topic: str, total_count: int, *, validate_only: bool = False
    ) -> TopicResult:
        """Grow ``topic`` to ``total_count`` partitions (never shrink, as Kafka)."""
        try:
            validate_topic_name(topic)
            check_not_reserved(topic, "add partitions to")

            def change(record: TopicRecord) -> TopicRecord:
                have = len(record.partitions)
                if total_count <= have:
                    raise InvalidPartitionsError(
                        f"topic {topic!r} has {have} partitions; the new total must be larger"
                    )
                self._check_partition_count(total_count)
                brokers = [b.node_id for b in self._store.brokers() if not b.draining]
                current = [a.replicas for a in record.partitions]
                try:
                    extended = placement.add_partitions(
                        current, total_count, brokers, self._loads(but=topic),
                        _racks(self._store.brokers()),
                    )  # fmt: skip
                except placement_errors.PartitioningError as exc:
                    raise _translate(exc) from None
                added = _placed(extended[have:], have)
                return dataclasses.replace(record, partitions=record.partitions + added)

            change(self._existing(topic))
            if not validate_only:
                await self._store.update_topic(topic, change)
        except LogdError as exc:
            return TopicResult(topic, exc)
        return TopicResult(topic)

    def _existing(self, topic: str) -> TopicRecord:
        record = self._store.topic(topic)
        if record is None:
            raise UnknownTopicOrPartitionError(f"topic {topic!r} does not exist")
        return record


#: Topic configs whose value is a comma-separated list (APPEND / SUBTRACT apply).
LIST_CONFIG_KEYS: Final = frozenset({"cleanup.policy"})


def _changed(
    configs: Mapping[str, str], changes: Sequence[ConfigChange], defaults: Mapping[str, str]
) -> dict[str, str]:
    out = dict(configs)
    for c in changes:
        if c.name not in TOPIC_CONFIG_KEYS:
            raise InvalidConfigError(f"unknown topic config {c.name!r}")
        if c.op == ConfigOp.SET:
            if c.value is None:
                raise InvalidConfigError(f"{c.name}: SET needs a value")
            out[c.name] = c.value
        elif c.op == ConfigOp.DELETE:
            out.pop(c.name, None)
        elif c.op in (ConfigOp.APPEND, ConfigOp.SUBTRACT):
            if c.name not in LIST_CONFIG_KEYS:
                raise InvalidConfigError(f"{c.name} is not a list config: cannot APPEND/SUBTRACT")
            current = out.get(c.name)
            if current is None:
                current = TopicConfig.resolve(out, defaults).to_strings()[c.name]
            items = [v for v in current.split(",") if v]
            given = [v.strip() for v in (c.value or "").split(",") if v.strip()]
            if c.op == ConfigOp.APPEND:
                items += [v for v in given if v not in items]
            else:
                items = [v for v in items if v not in given]
            out[c.name] = ",".join(items)
        else:
            raise InvalidRequestError(f"unknown config operation {c.op}")
    return out
