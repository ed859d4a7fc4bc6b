"""The data directory: topic names, the exclusive lock, partitions, clean shutdowns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from logd.clock import ManualClock
from logd.errors import (
    InvalidPartitionsError,
    InvalidTopicError,
    KafkaStorageError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.storage import Flusher, LogConfig, LogManager, validate_topic_name
from logd.storage.manager import CLEAN_SHUTDOWN_FILE, parse_partition_dir
from tests.storage.batches import make_batch
from tests.storage.test_log import read_all


@pytest.mark.parametrize(
    "name", ["../x", "a" * 250, ".", "..", "", "a/b", "a b", "tópico", "x\x00", "/etc", "..\\x"]
)
def test_bad_topic_names_are_refused_before_touching_the_disk(
    tmp_path: Path, clock: ManualClock, name: str
) -> None:
    data = tmp_path / "data"
    with LogManager(data, clock=clock) as manager:
        with pytest.raises(InvalidTopicError, match="invalid topic name") as info:
            manager.create(name, 0)
        assert "\n" not in str(info.value)
        assert sorted(p.name for p in data.iterdir()) == [".lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("name", ["a" * 249, "orders", "my.topic_v2-x", "..a", "-", "_"])
def test_good_topic_names_are_accepted(name: str) -> None:
    validate_topic_name(name)
    assert parse_partition_dir(f"{name}-12") == (name, 12)


def test_partition_numbers_are_checked(tmp_path: Path, clock: ManualClock) -> None:
    with LogManager(tmp_path, clock=clock) as manager:
        for partition in (-1, 1 << 31):
            with pytest.raises(InvalidPartitionsError):
                manager.create("t", partition)
    assert parse_partition_dir("t-01") is None and parse_partition_dir("t-x") is None


def test_a_second_manager_cannot_share_the_directory(tmp_path: Path, clock: ManualClock) -> None:
    first = LogManager(tmp_path, clock=clock)
    first.open()
    second = LogManager(tmp_path, clock=clock)
    with pytest.raises(KafkaStorageError, match="in use by another broker") as info:
        second.open()
    assert str(tmp_path) in str(info.value) and "pid" in str(info.value)
    first.close()
    second.open()  # free again once the first one is gone
    second.close()


def test_partitions_survive_a_clean_restart(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, clock=clock, config=LogConfig(segment_bytes=1000))
    manager.open()
    assert not manager.had_clean_shutdown
    stored = {}
    for topic, partition in [("orders", 0), ("orders", 1), ("audit.log", 0)]:
        log = manager.create(topic, partition)
        batches = [make_batch(2, 300, seed=i) for i in range(5)]
        for batch in batches:
            log.append(batch, 1)
        stored[(topic, partition)] = [bytes(b) for b in batches]
    with pytest.raises(TopicAlreadyExistsError):
        manager.create("orders", 0)
    assert manager.create("orders", 0, exist_ok=True) is manager.get("orders", 0)
    manager.close()
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()

    again = LogManager(tmp_path, clock=clock)
    again.open({"orders": LogConfig(segment_bytes=5000)})
    assert again.had_clean_shutdown and not (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    assert set(again.logs()) == set(stored)
    for key, batches in stored.items():
        assert read_all(again.get(*key)) == batches
    assert again.get("orders", 0).config.segment_bytes == 5000
    assert again.get("audit.log", 0).config.segment_bytes == (1 << 30)
    again.close()


def test_a_crash_leaves_no_marker_so_the_logs_are_recovered(
    tmp_path: Path, clock: ManualClock
) -> None:
    manager = LogManager(tmp_path / "live", clock=clock)
    manager.open()
    log = manager.create("t", 0)
    log.append(make_batch(2), 1)
    log.flush()
    shutil.copytree(tmp_path / "live", tmp_path / "crashed")  # the disk at the crash
    manager.close()
    segment = tmp_path / "crashed" / "t-0" / f"{0:020d}.log"
    with segment.open("ab") as file:
        file.write(b"\x01" * 40)
    with LogManager(tmp_path / "crashed", clock=clock) as recovered:
        assert not recovered.had_clean_shutdown
        assert recovered.get("t", 0).log_end_offset == 2
        assert recovered.get("t", 0).truncated_on_open == 40


def test_delete_removes_the_partition_for_good(tmp_path: Path, clock: ManualClock) -> None:
    with Flusher() as flusher, LogManager(tmp_path, clock=clock, flusher=flusher) as manager:
        log = manager.create("t", 0)
        log.append(make_batch(1), 1)
        manager.delete("t", 0)
        assert not (tmp_path / "t-0").exists()
        with pytest.raises(UnknownTopicOrPartitionError):
            manager.get("t", 0)
        with pytest.raises(UnknownTopicOrPartitionError):
            log.append(make_batch(1), 1)
        with pytest.raises(UnknownTopicOrPartitionError):
            manager.delete("t", 0)
        assert manager.create("t", 0).log_end_offset == 0  # a new, empty partition


def test_open_finishes_interrupted_deletes_and_ignores_strangers(
    tmp_path: Path, clock: ManualClock
) -> None:
    (tmp_path / "t-0.0123abcd-delete").mkdir()
    (tmp_path / "t-0.0123abcd-delete" / f"{0:020d}.log").write_bytes(b"x")
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    with LogManager(tmp_path, clock=clock) as manager:
        assert manager.logs() == {}
    assert not (tmp_path / "t-0.0123abcd-delete").exists()
    assert (tmp_path / "lost+found").exists() and (tmp_path / "notes.txt").exists()


def test_a_closed_manager_refuses_work(tmp_path: Path, clock: ManualClock) -> None:
    manager = LogManager(tmp_path, clock=clock)
    with pytest.raises(KafkaStorageError, match="not open"):
        manager.create("t", 0)


def test_a_partition_that_cannot_open_fails_the_open_and_unlocks(
    tmp_path: Path, clock: ManualClock
) -> None:
    with LogManager(tmp_path, clock=clock) as manager:
        manager.create("a", 0).append(make_batch(2), 1)
    (tmp_path / "b-0").mkdir()
    (tmp_path / "b-0" / f"{0:020d}.log").mkdir()  # not a file: opening it fails
    with pytest.raises(KafkaStorageError, match="b-0"):
        LogManager(tmp_path, clock=clock).open()
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()  # still trusted: nothing was promised
    shutil.rmtree(tmp_path / "b-0")
    with LogManager(tmp_path, clock=clock) as again:  # the lock was released
        assert again.had_clean_shutdown and again.get("a", 0).log_end_offset == 2
