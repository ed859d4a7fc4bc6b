"""FileMetadataStore: durable, atomic, ordered, and refusing a file it cannot trust."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from logd.broker.api import BrokerMeta
from logd.broker.metadata_file import METADATA_FILE, FileMetadataStore
from logd.errors import KafkaStorageError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from logd.metadata.store import PartitionAssignment, TopicRecord

ME = BrokerMeta(0, "127.0.0.1", 7070)


def record(name: str, partitions: int = 1, **configs: str) -> TopicRecord:
    parts = tuple(PartitionAssignment(p, (0,), 0, 0, (0,)) for p in range(partitions))
    return TopicRecord(name, f"id-{name}", parts, configs)


def opened(tmp_path: Path) -> FileMetadataStore:
    store = FileMetadataStore(tmp_path, ME)
    store.load()
    return store


def test_a_new_store_is_written_only_when_asked(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert not store.existed and len(store.cluster_id) == 32
    assert not (tmp_path / METADATA_FILE).exists()
    store.save_if_new()
    again = opened(tmp_path)
    assert again.existed and again.cluster_id == store.cluster_id
    assert (again.controller_id, again.brokers()) == (0, (ME,))


def test_changes_persist_and_reload(tmp_path: Path) -> None:
    async def body() -> None:
        store = opened(tmp_path)
        await store.create_topic(record("a", 2, **{"retention.ms": "5"}))
        await store.create_topic(record("b"))
        await store.update_topic("a", lambda r: dataclasses.replace(r, configs={}))
        await store.delete_topic("b")
        with pytest.raises(TopicAlreadyExistsError):
            await store.create_topic(record("a"))
        with pytest.raises(UnknownTopicOrPartitionError):
            await store.delete_topic("b")
        with pytest.raises(UnknownTopicOrPartitionError):
            await store.update_topic("b", lambda r: r)

    asyncio.run(body())
    reloaded = opened(tmp_path)
    assert dict(reloaded.topics()) == {"a": dataclasses.replace(record("a", 2), configs={})}
    assert not list(tmp_path.glob("*.tmp"))


def test_listeners_hear_every_change_in_order(tmp_path: Path) -> None:
    heard: list[tuple[str | None, str | None]] = []

    async def listener(before: TopicRecord | None, after: TopicRecord | None) -> None:
        await asyncio.sleep(0)  # a listener that awaits must not let changes overtake
        heard.append((before.name if before else None, after.name if after else None))

    async def body() -> None:
        store = opened(tmp_path)
        store.add_listener(listener)
        await asyncio.gather(
            store.create_topic(record("a")),
            store.delete_topic("a"),
            store.create_topic(record("a", 2)),
        )

    asyncio.run(body())
    assert heard == [(None, "a"), ("a", None), (None, "a")]


def test_concurrent_updates_are_not_lost(tmp_path: Path) -> None:
    async def body() -> FileMetadataStore:
        store = opened(tmp_path)
        await store.create_topic(record("a"))

        def setting(key: str) -> object:
            return lambda r: dataclasses.replace(r, configs={**r.configs, key: "1"})

        await asyncio.gather(*(store.update_topic("a", setting(f"k{i}")) for i in range(5)))  # type: ignore[arg-type]
        return store

    store = asyncio.run(body())
    assert sorted(store.topics()["a"].configs) == [f"k{i}" for i in range(5)]


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        store = opened(tmp_path)
        await store.create_topic(record("a"))
        (tmp_path / (METADATA_FILE + ".tmp")).mkdir()  # the next write cannot happen
        with pytest.raises(KafkaStorageError, match="writing the metadata failed"):
            await store.create_topic(record("b"))
        assert list(store.topics()) == ["a"]

    asyncio.run(body())
    (tmp_path / (METADATA_FILE + ".tmp")).rmdir()
    assert list(opened(tmp_path).topics()) == ["a"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        json.dumps({"version": 99, "cluster_id": "c", "topics": []}).encode(),
        json.dumps({"version": 1, "cluster_id": "", "topics": []}).encode(),
        json.dumps(
            {
                "version": 1,
                "cluster_id": "c",
                "topics": [{"name": "../etc", "topic_id": "x", "configs": {}, "partitions": []}],
            }
        ).encode(),
        json.dumps(
            {
                "version": 1,
                "cluster_id": "c",
                "topics": [
                    {
                        "name": "t",
                        "topic_id": "x",
                        "configs": {},
                        "partitions": [
                            {
                                "partition": 1,
                                "replicas": [0],
                                "isr": [0],
                                "leader_id": 0,
                                "leader_epoch": 0,
                            }
                        ],
                    }
                ],
            }
        ).encode(),
    ],
)
def test_an_untrustworthy_file_stops_the_broker(tmp_path: Path, content: bytes) -> None:
    (tmp_path / METADATA_FILE).write_bytes(content)
    store = FileMetadataStore(tmp_path, ME)
    with pytest.raises(KafkaStorageError, match=METADATA_FILE):
        store.load()


def test_producer_id_blocks_never_overlap_across_restarts(tmp_path: Path) -> None:
    async def allocate(store: FileMetadataStore, *counts: int) -> list[tuple[int, int]]:
        return [await store.allocate_producer_ids(n) for n in counts]

    store = opened(tmp_path)
    store.save_if_new()
    first = asyncio.run(allocate(store, 1000, 1))
    assert first == [(0, 999), (1000, 1000)]
    # A restart (or a crash: the file is written before a block is returned) goes on after
    # the last block handed out; ids of a block a broker did not finish are never reused.
    again = opened(tmp_path)
    assert asyncio.run(allocate(again, 10)) == [(1001, 1010)]
    asyncio.run(again.create_topic(record("t")))
    assert asyncio.run(allocate(opened(tmp_path), 1)) == [(1011, 1011)]


def test_a_file_from_before_producer_ids_starts_them_at_zero(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.save_if_new()
    path = tmp_path / METADATA_FILE
    document = json.loads(path.read_text())
    del document["next_producer_id"]
    path.write_text(json.dumps(document))
    assert asyncio.run(opened(tmp_path).allocate_producer_ids(5)) == (0, 4)
    document["next_producer_id"] = "many"
    path.write_text(json.dumps(document))
    with pytest.raises(KafkaStorageError, match="next_producer_id"):
        opened(tmp_path)
