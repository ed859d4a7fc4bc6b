"""The single-node :class:`MetadataStore`: one JSON file in the data directory.

``<data-dir>/logd-metadata.json`` holds the cluster id, every topic, and the next producer
id never handed out (``next_producer_id``; absent in files written before issue 7: 0). A
write replaces the file atomically (write ``.tmp``, fsync, rename, fsync the directory:
storage's ``write_atomic``), off the event loop, one write at a time; only after it is
durable does the in-memory image change and do the listeners hear of it. A crash therefore
leaves the old or the new file, never a mix, and never a topic that was acknowledged but
is not on disk.

Ownership: created and used on the broker's event loop; not thread-safe. The file write runs
in a worker thread while the loop holds the store's ``asyncio.Lock``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from logd.broker.api import BrokerMeta
from logd.errors import (
    InvalidRequestError,
    InvalidTopicError,
    KafkaStorageError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import MetadataListener, PartitionAssignment, TopicRecord
from logd.metadata.types import ControllerQuorum
from logd.storage import validate_topic_name
from logd.storage.files import write_atomic
from logd.storage.io_errors import storage_error

__all__ = ["METADATA_FILE", "FileMetadataStore"]

_log = logging.getLogger(__name__)

METADATA_FILE: Final = "logd-metadata.json"
_VERSION: Final = 1
#: The file is small (a few hundred bytes a topic); anything far larger is not ours.
_MAX_FILE_BYTES: Final = 256 * 1024 * 1024
_MAX_PRODUCER_ID: Final = 2**63 - 1


class FileMetadataStore:
    """Topics and configs of a one-node cluster, persisted in ``data_dir``."""

    def __init__(self, data_dir: Path, broker: BrokerMeta) -> None:
        self.path = Path(data_dir) / METADATA_FILE
        self._broker = broker
        self._cluster_id = ""
        self._topics: dict[str, TopicRecord] = {}
        self._next_producer_id = 0
        self._listeners: list[MetadataListener] = []
        self._lock = asyncio.Lock()
        #: False when the file did not exist before :meth:`load` (a fresh data directory).
        self.existed = False

    def load(self) -> None:
        """Read the file, or start a new cluster id when there is none (written by
        :meth:`save_if_new` once the data directory is locked). Blocking; call once."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._cluster_id = uuid.uuid4().hex
            return
        except OSError as exc:
            raise KafkaStorageError(f"cannot read {self.path}: {exc}") from exc
        if size > _MAX_FILE_BYTES:
            raise KafkaStorageError(f"{self.path} is {size} bytes: not a logd metadata file")
        try:
            document = json.loads(self.path.read_bytes())
            self._cluster_id, self._topics = _decode(document)
            self._next_producer_id = _decode_next_producer_id(document)
        except (OSError, ValueError, KeyError, TypeError, InvalidTopicError) as exc:
            raise KafkaStorageError(
                f"{self.path} is unreadable ({exc}); restore it from a backup or move the "
                "data directory aside"
            ) from exc
        self.existed = True

    def save_if_new(self) -> None:
        """Write the file of a new cluster. Blocking."""
        if not self.existed:
            self._write_sync(self._topics)
            self.existed = True

    # -- reads ----------------------------------------------------------------------------

    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    @property
    def controller_id(self) -> int:
        return self._broker.node_id

    def brokers(self) -> tuple[BrokerMeta, ...]:
        return (self._broker,)

    def topics(self) -> Mapping[str, TopicRecord]:
        return MappingProxyType(self._topics)

    def topic(self, name: str) -> TopicRecord | None:
        return self._topics.get(name)

    def add_listener(self, listener: MetadataListener) -> None:
        self._listeners.append(listener)

    # -- writes ---------------------------------------------------------------------------

    async def create_topic(self, record: TopicRecord) -> None:
        async with self._lock:
            if record.name in self._topics:
                raise TopicAlreadyExistsError(f"topic {record.name!r} already exists")
            await self._commit({**self._topics, record.name: record})
            await self._publish(None, record)

    def quorum(self) -> ControllerQuorum:
        me = self._broker.node_id
        return ControllerQuorum(me, (me,), (), (me,))

    def move_bytes_left(self, topic: str, partition: int) -> int:
        return -1  # one broker: nothing moves

    def partition_bytes(self, topic: str, partition: int) -> int:
        return 0  # one broker: nothing to balance

    async def set_controller_voters(self, voters: Sequence[int]) -> None:
        raise InvalidRequestError("a single broker has no controller quorum to change")

    async def unregister_broker(self, node_id: int) -> None:
        raise InvalidRequestError("a single broker has no other broker to unregister")

    def cluster_configs(self) -> Mapping[str, str]:
        return {}

    async def set_cluster_configs(self, configs: Mapping[str, str], delete: Sequence[str]) -> None:
        raise InvalidRequestError(
            "a single broker has no cluster-wide configs: set them in its config file"
        )

    async def set_draining(self, node_id: int, draining: bool) -> None:
        raise InvalidRequestError("a single broker cannot be decommissioned: nowhere to move to")

    async def update_topic(self, name: str, change: Callable[[TopicRecord], TopicRecord]) -> None:
        async with self._lock:
            before = self._topics.get(name)
            if before is None:
                raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
            after = change(before)
            assert after.name == name and after.topic_id == before.topic_id
            await self._commit({**self._topics, name: after})
            await self._publish(before, after)

    async def delete_topic(self, name: str) -> None:
        async with self._lock:
            before = self._topics.get(name)
            if before is None:
                raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
            topics = dict(self._topics)
            del topics[name]
            await self._commit(topics)
            await self._publish(before, None)

    async def allocate_producer_ids(self, count: int) -> tuple[int, int]:
        """A block of ``count`` producer ids; the file holds the new high-water mark before
        the block is returned (see ``MetadataStore.allocate_producer_ids``)."""
        if count < 1:
            raise InvalidRequestError(f"cannot allocate {count} producer ids")
        async with self._lock:
            first = self._next_producer_id
            after = first + count
            if after > _MAX_PRODUCER_ID + 1:
                raise KafkaStorageError("producer ids are exhausted (2^63 handed out)")
            await asyncio.to_thread(self._write_sync, self._topics, after)
            self._next_producer_id = after
            return first, after - 1

    async def _commit(self, topics: dict[str, TopicRecord]) -> None:
        await asyncio.to_thread(self._write_sync, topics)
        self._topics = topics

    def _write_sync(
        self, topics: Mapping[str, TopicRecord], next_producer_id: int | None = None
    ) -> None:
        if next_producer_id is None:
            next_producer_id = self._next_producer_id
        document = _encode(self._cluster_id, topics)
        document["next_producer_id"] = next_producer_id
        data = json.dumps(document, indent=1, sort_keys=True).encode()
        try:
            write_atomic(self.path, data + b"\n", fsync=os.fsync)
        except OSError as exc:
            raise storage_error("writing the metadata", exc, self.path) from exc

    async def _publish(self, before: TopicRecord | None, after: TopicRecord | None) -> None:
        # Under the lock, so listeners see changes in the order they were made.
        for listener in self._listeners:
            await listener(before, after)


# -- the file format ----------------------------------------------------------------------


def _encode(cluster_id: str, topics: Mapping[str, TopicRecord]) -> dict[str, Any]:
    return {
        "version": _VERSION,
        "cluster_id": cluster_id,
        "topics": [
            {
                "name": t.name,
                "topic_id": t.topic_id,
                "configs": dict(t.configs),
                "partitions": [
                    {
                        "partition": p.partition,
                        "replicas": list(p.replicas),
                        "isr": list(p.isr),
                        "leader_id": p.leader_id,
                        "leader_epoch": p.leader_epoch,
                    }
                    for p in t.partitions
                ],
            }
            for t in sorted(topics.values(), key=lambda t: t.name)
        ],
    }


def _decode_next_producer_id(document: dict[str, Any]) -> int:
    value = document.get("next_producer_id", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"next_producer_id must be an integer, not {value!r}")
    if not 0 <= value <= _MAX_PRODUCER_ID + 1:
        raise ValueError(f"next_producer_id {value} is out of range")
    return value


def _decode(document: Any) -> tuple[str, dict[str, TopicRecord]]:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("version") != _VERSION:
        raise ValueError(f"unsupported metadata version {document.get('version')!r}")
    cluster_id = document["cluster_id"]
    if not isinstance(cluster_id, str) or not cluster_id:
        raise ValueError("no cluster id")
    topics: dict[str, TopicRecord] = {}
    for item in document["topics"]:
        configs = item["configs"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in configs.items()):
            raise ValueError(f"topic {item['name']!r}: configs must map strings to strings")
        name = item["name"]
        validate_topic_name(name)  # a doctored file must not steer paths either
        partitions = tuple(_decode_partition(p) for p in item["partitions"])
        if [p.partition for p in partitions] != list(range(len(partitions))):
            raise ValueError(f"topic {name!r}: partitions are not numbered 0..n-1")
        topics[name] = TopicRecord(name, str(item["topic_id"]), partitions, configs)
    return cluster_id, topics


def _decode_partition(item: Any) -> PartitionAssignment:
    replicas = tuple(int(r) for r in item["replicas"])
    isr = tuple(int(r) for r in item["isr"])
    leader_id = int(item["leader_id"])
    if (
        not replicas
        or (leader_id != -1 and leader_id not in replicas)
        or not set(isr) <= set(replicas)
    ):
        raise ValueError(f"partition {item!r}: leader or in-sync replicas not among replicas")
    return PartitionAssignment(
        partition=int(item["partition"]),
        replicas=replicas,
        leader_id=leader_id,
        leader_epoch=int(item["leader_epoch"]),
        isr=isr,
    )
