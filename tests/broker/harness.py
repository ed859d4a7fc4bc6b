"""In-process brokers for unit tests of the core: no gRPC, no subprocess.

``MemoryStore`` is a second implementation of the ``MetadataStore`` protocol (a dict, no
file) with any number of brokers, so the tests also prove the seam that a controller-backed
store will use. ``open_core`` builds the core over it with real storage in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from logd.broker.api import BrokerMeta
from logd.broker.config import BrokerConfig
from logd.broker.core import BrokerCore
from logd.broker.groups.service import GroupService
from logd.broker.replicas import ReplicaManager
from logd.broker.seam import BrokerSeam, Gate
from logd.clock import SystemClock
from logd.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from logd.metadata.store import MetadataListener, TopicRecord, leader_hint_for
from logd.storage import Flusher, FlushPolicy, LogManager

__all__ = ["ONE_BROKER", "TWO_BROKERS", "MemoryStore", "OpenCore", "open_core"]


class MemoryStore:
    """MetadataStore in memory; every write applies at once (a one-voter controller)."""

    def __init__(self, brokers: tuple[BrokerMeta, ...], controller_id: int = 0) -> None:
        self._brokers = brokers
        self._controller_id = controller_id
        self._topics: dict[str, TopicRecord] = {}
        self._listeners: list[MetadataListener] = []
        self._next_producer_id = 0

    cluster_id = "memory-cluster"

    @property
    def controller_id(self) -> int:
        return self._controller_id

    def brokers(self) -> tuple[BrokerMeta, ...]:
        return self._brokers

    def topics(self) -> Mapping[str, TopicRecord]:
        return MappingProxyType(self._topics)

    def topic(self, name: str) -> TopicRecord | None:
        return self._topics.get(name)

    def add_listener(self, listener: MetadataListener) -> None:
        self._listeners.append(listener)

    def reset_listeners(self) -> None:
        """Forget the listeners of a closed core (a store reused by a reopened one)."""
        self._listeners.clear()

    async def create_topic(self, record: TopicRecord) -> None:
        if record.name in self._topics:
            raise TopicAlreadyExistsError(record.name)
        self._topics[record.name] = record
        for listener in self._listeners:
            await listener(None, record)

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        before = self._topics.get(name)
        if before is None:
            raise UnknownTopicOrPartitionError(name)
        after = self._topics[name] = change(before)
        for listener in self._listeners:
            await listener(before, after)

    async def delete_topic(self, name: str) -> None:
        before = self._topics.pop(name, None)
        if before is None:
            raise UnknownTopicOrPartitionError(name)
        for listener in self._listeners:
            await listener(before, None)

    async def allocate_producer_ids(self, count: int) -> tuple[int, int]:
        first = self._next_producer_id
        self._next_producer_id += count
        return first, first + count - 1


@dataclasses.dataclass
class OpenCore:
    core: BrokerCore
    store: MemoryStore
    logs: LogManager
    flusher: Flusher

    def seam(self, gate: Gate | None = None) -> BrokerSeam:
        """The front-end seam over this core (its group service built, not started)."""
        groups = GroupService(
            self.core.config.groups,
            self.store,
            self.core.replicas,
            self.core.create_topics,
            SystemClock(),
            node_id=self.core.node_id,
        )
        return BrokerSeam(self.core, groups, gate)

    async def close(self) -> None:
        self.core.replicas.close()
        self.logs.close()
        self.flusher.stop()


ONE_BROKER = (BrokerMeta(0, "127.0.0.1", 7070),)
TWO_BROKERS = (*ONE_BROKER, BrokerMeta(1, "10.0.0.1", 7071))


async def open_core(
    tmp_path: Path,
    *,
    config: BrokerConfig | None = None,
    flusher: Flusher | None = None,
    brokers: tuple[BrokerMeta, ...] = ONE_BROKER,
    store: MemoryStore | None = None,
) -> OpenCore:
    """A core over ``tmp_path``; pass the ``store`` of an earlier core to reopen it."""
    config = config or BrokerConfig(data_dir=tmp_path / "data")
    store = store or MemoryStore(brokers)
    store.reset_listeners()
    flusher = flusher or Flusher(FlushPolicy(config.fsync.value))
    logs = LogManager(config.data_dir, flusher=flusher)
    replicas = ReplicaManager(
        logs,
        flusher,
        node_id=config.node_id,
        clock=SystemClock(),
        topic_defaults=config.topic_defaults,
        leader_hint=lambda a: leader_hint_for(store.brokers(), a),
    )
    await replicas.start(store, delete_strays=False)
    return OpenCore(BrokerCore(config, store, replicas), store, logs, flusher)
