"""The partitions this broker hosts (Kafka's ``ReplicaManager``), kept in step with metadata.

The replica manager is a listener of the :class:`~logd.metadata.store.MetadataStore`: each
applied change — a topic created, reconfigured, grown or deleted — becomes logs created,
reconfigured or deleted here, whether the change was made through this broker or arrived
from the controller's log (issue 5). At start it reconciles the data directory with the
metadata: a missing log is created, and a log of a topic the metadata no longer has (a
deletion a crash interrupted) is deleted.

Ownership: owned by the broker's event loop; not thread-safe. Creating and deleting log
directories (mkdir and fsync per partition, ``rmtree``) runs in worker threads so a topic
of thousands of partitions does not stall the loop; a partition becomes visible to requests
only once its log exists, and disappears before its log is deleted.

Leadership listeners (the seam consumer groups hang on; docs/internals.md). Whoever must act
when this broker starts or stops leading a partition -- the group coordinator of a
``__consumer_offsets`` partition -- registers ``listener(topic, partition, is_leader,
leader_epoch)`` with :meth:`ReplicaManager.add_leadership_listener`. It is called on the loop,
synchronously, whenever :meth:`ReplicaManager.announce_leadership` sees a partition's role or
leader epoch differ from what it last announced: when a hosted partition is created as leader
(at start, too), when the metadata moves its leadership to or from this broker, when it is
unhosted, and at close. Registering replays ``True`` for every partition led right now, so a
listener added after :meth:`start` misses nothing. The Raft driver (issue 5) calls
``announce_leadership`` where it changes a partition's role; nothing else is needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from logd.broker.api import LeaderHint, TopicPartition
from logd.broker.partition import Partition, Replicator
from logd.broker.topic_config import TopicConfig
from logd.clock import Clock
from logd.cluster.hosted import HostedPartition
from logd.errors import (
    KafkaStorageError,
    NotLeaderOrFollowerError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import (
    METADATA_TOPIC,
    MetadataStore,
    PartitionAssignment,
    TopicRecord,
)
from logd.storage import Flusher, Log, LogManager, validate_topic_name

__all__ = ["LeadershipListener", "ReplicaManager", "Replication"]

_log = logging.getLogger(__name__)

#: A log that could not be created is tried again after this, doubling up to the max.
_CREATE_RETRY_MIN_S = 0.5
_CREATE_RETRY_MAX_S = 10.0
#: Partitions hosted per loop turn when a topic brings many at once.
_HOST_BATCH = 50
#: Logs created at once for a new topic (each creation waits on its fsyncs).
_CREATE_THREADS = 8

#: ``listener(topic, partition, is_leader, leader_epoch)``; see the module docstring.
LeadershipListener = Callable[[str, int, bool, int], None]


class Replication(Protocol):
    """How hosted partitions replicate (``logd.cluster.runtime``: a Raft group each).

    ``replicator`` is called before a partition is built over ``log`` (its Raft group, not
    started); ``hosted`` once the partition is in the table (the group starts);
    ``unhosted`` when it leaves (the group stops)."""

    def replicator(
        self, tp: TopicPartition, log: Log, assignment: PartitionAssignment
    ) -> Replicator: ...

    def hosted(self, partition: Partition) -> None: ...

    def unhosted(self, tp: TopicPartition) -> None: ...


class ReplicaManager:
    """topic-partition -> :class:`Partition` on this broker. See the module doc."""

    def __init__(
        self,
        logs: LogManager,
        flusher: Flusher,
        *,
        node_id: int,
        clock: Clock,
        topic_defaults: Mapping[str, str],
        leader_hint: Callable[[PartitionAssignment], LeaderHint],
        replication: Replication | None = None,
    ) -> None:
        self._logs = logs
        self._replication = replication
        self._flusher = flusher
        self._node_id = node_id
        self._clock = clock
        self._topic_defaults = dict(topic_defaults)
        self._leader_hint = leader_hint
        self._partitions: dict[TopicPartition, Partition] = {}
        self._store: MetadataStore | None = None
        self._leadership_listeners: list[LeadershipListener] = []
        #: The leader epoch last announced as led, per partition led here.
        self._announced: dict[TopicPartition, int] = {}
        #: Partitions placed here whose log could not be created (a full or failing disk):
        #: tp -> why. Retried with backoff; requests to them answer KAFKA_STORAGE_ERROR.
        self.uncreated: dict[TopicPartition, str] = {}
        self._retry: asyncio.Task[None] | None = None
        self._retry_now = asyncio.Event()
        self._changing = asyncio.Lock()

    @property
    def logs(self) -> LogManager:
        return self._logs

    # -- lookups --------------------------------------------------------------------------

    def get(self, tp: TopicPartition) -> Partition | None:
        return self._partitions.get(tp)

    def leader(self, topic: str, partition: int) -> Partition:
        """The partition, which this broker must lead; else the typed error to answer."""
        hosted = self.replica(topic, partition)
        hosted.check_leader()
        return hosted

    def replica(self, topic: str, partition: int) -> Partition:
        """This broker's replica of the partition, led here or not; else the typed error."""
        hosted = self._partitions.get(TopicPartition(topic, partition))
        if hosted is None:
            validate_topic_name(topic)  # a name that cannot exist gets the better error
            why = self.uncreated.get(TopicPartition(topic, partition))
            if why is not None:
                raise KafkaStorageError(
                    f"broker {self._node_id} cannot create the log of {topic}-{partition} "
                    f"({why}); it tries again by itself"
                )
            assignment = self._assignment(topic, partition)
            if assignment is None:
                raise UnknownTopicOrPartitionError(
                    f"topic {topic!r} has no partition {partition}"
                    if self._store is not None and self._store.topic(topic) is not None
                    else f"topic {topic!r} does not exist"
                )
            # Known to the metadata but placed on other brokers (Kafka answers the same).
            hint = self._leader_hint(assignment)
            raise NotLeaderOrFollowerError(
                f"broker {self._node_id} holds no replica of {topic}-{partition}; "
                f"broker {hint.leader_id} leads it"
                + (f" at {hint.address}" if hint.address else ""),
                leader_hint=hint.address or None,
            )
        return hosted

    def hint(self, topic: str, partition: int) -> LeaderHint | None:
        """Who leads a partition, for a NOT_LEADER_OR_FOLLOWER answer."""
        hosted = self._partitions.get(TopicPartition(topic, partition))
        if hosted is not None:
            return hosted.leader_hint()
        assignment = self._assignment(topic, partition)
        return self._leader_hint(assignment) if assignment is not None else None

    def _assignment(self, topic: str, partition: int) -> PartitionAssignment | None:
        record = self._store.topic(topic) if self._store is not None else None
        if record is None or not 0 <= partition < len(record.partitions):
            return None
        return record.partitions[partition]

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    def __len__(self) -> int:
        return len(self._partitions)

    def topic_config(self, record: TopicRecord) -> TopicConfig:
        return TopicConfig.resolve(record.configs, self._topic_defaults)

    # -- leadership ---------------------------------------------------------------------

    def add_leadership_listener(self, listener: LeadershipListener) -> None:
        """Call ``listener`` at every change of leadership, starting now with a ``True`` for
        every partition this broker leads."""
        self._leadership_listeners.append(listener)
        for tp, epoch in list(self._announced.items()):
            self._call(listener, tp, True, epoch)

    def remove_leadership_listener(self, listener: LeadershipListener) -> None:
        self._leadership_listeners.remove(listener)

    def announce_leadership(self, partition: HostedPartition) -> None:
        """Tell the listeners if ``partition``'s role or leader epoch changed since the last
        announcement (a no-op otherwise): a new epoch is announced as stop, then start."""
        tp = partition.tp
        before = self._announced.get(tp)
        now = partition.assignment.leader_epoch if partition.is_leader else None
        if before == now:
            return
        if before is not None:
            del self._announced[tp]
            for listener in list(self._leadership_listeners):
                self._call(listener, tp, False, before)
        if now is not None:
            self._announced[tp] = now
            for listener in list(self._leadership_listeners):
                self._call(listener, tp, True, now)

    @staticmethod
    def _call(listener: LeadershipListener, tp: TopicPartition, leads: bool, epoch: int) -> None:
        try:
            listener(tp.topic, tp.partition, leads, epoch)
        except Exception:  # one broken listener must not stop the metadata from applying
            _log.exception("leadership listener failed for %s", tp)

    # -- start / stop ---------------------------------------------------------------------

    async def start(
        self, store: MetadataStore, *, delete_strays: bool, open_logs: bool = True
    ) -> None:
        """Open the data directory's logs (unless ``open_logs`` is False: the caller opened
        them, to read the controller's log first) and host every partition the metadata
        assigns here. ``delete_strays``: delete logs of topics the metadata does not know
        (pass False when the metadata is new, so that a lost metadata file never deletes
        data). The controller's own log (``__cluster_metadata``) is never a stray."""
        self._store = store
        topics = store.topics()
        if open_logs:
            configs = {name: self.topic_config(record).log for name, record in topics.items()}
            await asyncio.to_thread(self._logs.open, configs)
        existing = self._logs.logs()
        for (topic, partition), log in existing.items():
            if topic == METADATA_TOPIC:
                continue
            assignment = self._assignment(topic, partition)
            if assignment is not None and self._node_id in assignment.replicas:
                continue
            if delete_strays:
                # Its topic was deleted, or the partition moved, while this broker was down.
                _log.warning("deleting %s: the metadata places it on no replica here", log.name)
                await asyncio.to_thread(self._logs.delete, topic, partition)
            else:
                _log.warning("%s: not in the metadata; leaving it alone", log.name)
        for record in topics.values():
            await self._host(record, record.partitions)
        store.add_listener(self.apply)

    def close(self) -> None:
        """Stop every partition; the caller then closes the LogManager (flush + marker).
        Each first snapshots its producer state at its log end, so that the next start
        reads the snapshot instead of scanning the log (issue 7)."""
        if self._retry is not None:
            self._retry.cancel()
        for partition in self._partitions.values():
            partition.write_producer_snapshot()
            partition.close()
            self.announce_leadership(partition)

    # -- metadata deltas ------------------------------------------------------------------

    async def apply(self, before: TopicRecord | None, after: TopicRecord | None) -> None:
        """Make the hosted partitions match one metadata change (a MetadataListener).

        Per partition: newly placed here, host it; hosted and still placed here, apply the
        new assignment and config; hosted but placed elsewhere now (a reassignment, issue 5)
        or deleted with its topic, stop hosting it and delete its log.
        """
        async with self._changing:
            await self._apply(before, after)

    async def _apply(self, before: TopicRecord | None, after: TopicRecord | None) -> None:
        record = after if after is not None else before
        assert record is not None, "a change has a before or an after"
        name = record.name
        for tp in [tp for tp in self.uncreated if tp.topic == name]:
            del self.uncreated[tp]  # placed again below if it still is
        assignments = after.partitions if after is not None else ()
        placed = {a.partition: a for a in assignments if self._node_id in a.replicas}
        gone = [tp for tp in self._partitions if tp.topic == name and tp.partition not in placed]
        reason = f"topic {name!r} was deleted" if after is None else "moved to other brokers"
        await self._unhost(gone, reason)
        if after is None:
            return
        config = self.topic_config(after)
        new = []
        for assignment in placed.values():
            hosted = self._partitions.get(TopicPartition(name, assignment.partition))
            if hosted is None:
                new.append(assignment)
            else:
                _log_moved(hosted.assignment, assignment, name)
                hosted.update(assignment, config, self._leader_hint(assignment))
                self.announce_leadership(hosted)
        await self._host(after, tuple(new))

    async def _host(
        self, record: TopicRecord, assignments: tuple[PartitionAssignment, ...]
    ) -> None:
        config = self.topic_config(record)
        mine = [a for a in assignments if self._node_id in a.replicas]
        if not mine:
            return

        def create(a: PartitionAssignment) -> Log | KafkaStorageError:
            try:
                return self._logs.create(record.name, a.partition, config.log, exist_ok=True)
            except KafkaStorageError as exc:  # a full disk: retried (``uncreated``)
                return exc

        def create_all() -> list[Log | KafkaStorageError]:
            # A new log costs three fsyncs: created side by side, the file system folds
            # them into fewer journal commits (3,000 partitions: about 4x faster here).
            if len(mine) == 1:
                return [create(mine[0])]
            with concurrent.futures.ThreadPoolExecutor(_CREATE_THREADS) as pool:
                return list(pool.map(create, mine))

        logs = await asyncio.to_thread(create_all)
        for i, (assignment, log) in enumerate(zip(mine, logs, strict=True)):
            if i and i % _HOST_BATCH == 0:
                # Thousands of partitions at once: let heartbeats, votes and requests in
                # between (a loop blocked for seconds looks dead to the controller).
                await asyncio.sleep(0)
            tp = TopicPartition(record.name, assignment.partition)
            if tp in self._partitions:
                continue  # hosted meanwhile (a replayed creation)
            if isinstance(log, KafkaStorageError):
                self._creation_failed(tp, log)
                continue
            if self.uncreated.pop(tp, None) is not None:
                _log.info("%s: its log is created at last", tp)
            if log.config != config.log:
                log.update_config(config.log)
            replication = self._replication
            partition = self._partitions[tp] = Partition(
                tp,
                log,
                assignment,
                config,
                node_id=self._node_id,
                flusher=self._flusher,
                clock=self._clock,
                leader_hint=self._leader_hint(assignment),
                replicator=(
                    replication.replicator(tp, log, assignment) if replication is not None else None
                ),
            )
            if replication is not None:
                replication.hosted(partition)
            self.announce_leadership(partition)

    # -- logs that could not be created: retried with backoff ------------------------------

    def _creation_failed(self, tp: TopicPartition, error: KafkaStorageError) -> None:
        if tp not in self.uncreated:
            _log.error("%s: cannot create its log (%s); trying again with backoff", tp, error)
        self.uncreated[tp] = str(error)
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(
                self._retry_creations(), name="log-creation-retry"
            )

    def retry_creations_now(self) -> None:
        """Space came back: try the logs that could not be created at once. On the loop."""
        self._retry_now.set()

    async def _retry_creations(self) -> None:
        delay = _CREATE_RETRY_MIN_S
        while self.uncreated:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), delay)
            self._retry_now.clear()
            delay = min(delay * 2, _CREATE_RETRY_MAX_S)
            async with self._changing:
                for topic in sorted({tp.topic for tp in self.uncreated}):
                    record = self._store.topic(topic) if self._store is not None else None
                    waiting = [tp for tp in self.uncreated if tp.topic == topic]
                    if record is None:
                        for tp in waiting:
                            del self.uncreated[tp]
                        continue
                    retry = tuple(a for a in record.partitions
                                  if TopicPartition(topic, a.partition) in waiting)  # fmt: skip
                    for tp in waiting:
                        if self._node_id not in record.partitions[tp.partition].replicas:
                            del self.uncreated[tp]
                    await self._host(record, retry)

    async def _unhost(self, gone: list[TopicPartition], reason: str) -> None:
        for tp in gone:
            partition = self._partitions.pop(tp)
            if reason.startswith("moved"):
                _log_moved(partition.assignment, None, tp.topic)
            if self._replication is not None:
                self._replication.unhosted(tp)
            partition.close(UnknownTopicOrPartitionError(f"{tp}: {reason}"))
            self.announce_leadership(partition)

        def delete_all() -> None:
            for tp in gone:
                try:
                    self._logs.delete(tp.topic, tp.partition)
                except UnknownTopicOrPartitionError:
                    pass  # never created (a crash between metadata and mkdir)
                except KafkaStorageError as exc:
                    _log.error("%s: %s", tp, exc)

        if gone:
            await asyncio.to_thread(delete_all)


def _log_moved(before: PartitionAssignment, after: PartitionAssignment | None, topic: str) -> None:
    """One ``partition_moved`` line when a hosted partition's replica set changed (``after``
    None: it moved off this broker)."""
    replicas = after.replicas if after is not None else ()
    if after is not None and tuple(before.replicas) == tuple(replicas):
        return
    _log.info(
        "%s-%d: replicas %s -> %s", topic, before.partition, list(before.replicas),
        list(replicas) if after is not None else "elsewhere",
        extra={"event": "partition_moved", "topic": topic, "partition": before.partition,
               "from": list(before.replicas), "to": list(replicas)},
    )  # fmt: skip
