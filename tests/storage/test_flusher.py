"""Durability off the event loop: group commit, policies, failures, races with truncation.

The fsync function is injected, so the tests count fsyncs and hold one open with an event;
real waiting happens only through deadlines (``wait_until``, ``Future.result(timeout)``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from logd.clock import ManualClock
from logd.errors import InvalidConfigError, KafkaStorageError
from logd.storage import Flusher, FlushPolicy, Log, LogConfig
from tests.helpers import wait_until
from tests.storage.batches import make_batch

DEADLINE = 10.0


class GatedFsync:
    """An fsync that counts calls and, while closed, blocks until opened."""

    def __init__(self) -> None:
        self.calls = 0
        self.completed = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        with self._lock:
            self.calls += 1
        self.entered.set()
        assert self.gate.wait(DEADLINE), "the test never opened the gate"
        os.fdatasync(fd)
        with self._lock:
            self.completed += 1


def fresh_log(tmp_path: Path, clock: ManualClock, config: LogConfig | None = None) -> Log:
    log = Log.open(tmp_path / "t-0", config or LogConfig(), clock)
    log.append(make_batch(1), 1)
    log.flush()  # the new files, directory and epoch checkpoint are durable: a quiet start
    return log


def test_requests_during_an_fsync_share_the_next_one(tmp_path: Path, clock: ManualClock) -> None:
    log = fresh_log(tmp_path, clock)
    fsync = GatedFsync()
    fsync.gate.clear()
    with Flusher(fsync=fsync) as flusher:
        log.append(make_batch(1), 1)
        first = flusher.request(log)
        assert fsync.entered.wait(DEADLINE)  # round 1 is inside its fsync, held there
        waiting: list[tuple[int, Future[int], list[int]]] = []
        for _ in range(25):
            target = log.append(make_batch(2), 1).last_offset + 1
            seen: list[int] = []
            future = flusher.request(log)
            future.add_done_callback(lambda _f, seen=seen: seen.append(fsync.completed))
            waiting.append((target, future, seen))
        assert not first.done() and not any(future.done() for _, future, _ in waiting)
        fsync.gate.set()
        assert first.result(DEADLINE) >= 1
        for target, future, seen in waiting:
            assert future.result(DEADLINE) >= target
            assert seen[0] >= 2  # resolved only after the fsync of round 2 had finished
        assert fsync.calls == 2 and flusher.flushes == 2  # 26 requests, 2 fdatasyncs
        assert log.recovery_point == log.log_end_offset


def test_many_threads_appending_and_waiting_all_get_durable_offsets(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = fresh_log(tmp_path, clock)
    fsync = GatedFsync()
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def producer() -> None:
        for _ in range(40):
            target = log.append(make_batch(1), 1).last_offset + 1
            durable = flusher.request(log).result(DEADLINE)
            with lock:
                results.append((target, durable))

    with Flusher(fsync=fsync) as flusher:
        threads = [threading.Thread(target=producer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
    assert len(results) == 160 and all(durable >= target for target, durable in results)
    assert 1 <= fsync.calls <= 160


def test_asyncio_waits_on_the_flusher_without_blocking_the_loop(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = fresh_log(tmp_path, clock)
    fsync = GatedFsync()
    fsync.gate.clear()

    async def main(flusher: Flusher) -> int:
        log.append(make_batch(1), 1)
        pending = asyncio.wrap_future(flusher.request(log))
        ticks = 0
        while not fsync.entered.is_set() or ticks < 3:  # the loop keeps running meanwhile
            ticks += 1
            await asyncio.sleep(0)
        fsync.gate.set()
        return await asyncio.wait_for(pending, DEADLINE)

    with Flusher(fsync=fsync) as flusher:
        assert asyncio.run(main(flusher)) == 2


def test_a_failed_fsync_fails_the_waiters_and_takes_the_log_offline(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = fresh_log(tmp_path, clock)

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with Flusher(fsync=broken) as flusher:
        log.append(make_batch(1), 1)
        with pytest.raises(KafkaStorageError, match="fsync failed"):
            flusher.request(log).result(DEADLINE)
    # After a failed fsync the page cache may have dropped the data: never pretend otherwise.
    with pytest.raises(KafkaStorageError, match="offline"):
        log.append(make_batch(1), 1)
    with pytest.raises(KafkaStorageError, match="offline"):
        log.read(0, 100)


def test_a_truncation_during_an_fsync_does_not_raise_the_recovery_point(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = fresh_log(tmp_path, clock)
    for _ in range(10):
        log.append(make_batch(2), 1)
    fsync = GatedFsync()
    fsync.gate.clear()
    with Flusher(fsync=fsync) as flusher:
        future = flusher.request(log)
        assert fsync.entered.wait(DEADLINE)
        log.truncate_to(5)  # the loop thread cuts data the flush had snapshotted
        fsync.gate.set()
        assert future.result(DEADLINE) == 21
    assert log.log_end_offset == 5 and log.recovery_point <= 5


def test_the_interval_policy_flushes_registered_logs_by_itself(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = fresh_log(tmp_path, clock)
    with Flusher(FlushPolicy.INTERVAL, interval_ms=5) as flusher:
        flusher.register(log)
        log.append(make_batch(1), 1)
        wait_until(lambda: log.recovery_point == log.log_end_offset == 2, DEADLINE, message="flush")


def test_a_roll_schedules_a_flush_of_the_sealed_segment(tmp_path: Path, clock: ManualClock) -> None:
    log = fresh_log(tmp_path, clock, LogConfig(segment_bytes=1000))
    with Flusher(FlushPolicy.NEVER) as flusher:
        log.on_roll = flusher.schedule
        for _ in range(6):
            log.append(make_batch(1, 300), 1)
        sealed_end = log.segment_base_offsets()[-1]
        wait_until(lambda: log.recovery_point >= sealed_end, DEADLINE, message="sealed flush")


def test_requests_after_stop_fail_and_policies_parse(tmp_path: Path, clock: ManualClock) -> None:
    log = fresh_log(tmp_path, clock)
    flusher = Flusher()
    flusher.stop(DEADLINE)
    with pytest.raises(KafkaStorageError, match="stopped"):
        flusher.request(log).result(DEADLINE)
    assert FlushPolicy.parse("interval") is FlushPolicy.INTERVAL
    with pytest.raises(InvalidConfigError, match="always, interval, never"):
        FlushPolicy.parse("sometimes")
    with pytest.raises(InvalidConfigError):
        Flusher(interval_ms=0)


def test_the_logs_of_one_round_are_fsynced_at_the_same_time(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Each log of a round used to wait for the previous one's fsync; now they are all in
    # flight together (the journal folds them into one commit). With the gate closed, the
    # second log's fsync must start while the first is still held.
    logs = [fresh_log(tmp_path / f"l{i}", clock) for i in range(3)]
    fsync = GatedFsync()
    fsync.gate.clear()
    with Flusher(fsync=fsync) as flusher:
        for log in logs:
            log.append(make_batch(1), 1)
        futures = flusher.request_all(logs)
        wait_until(lambda: fsync.calls == 3, DEADLINE, message="three fsyncs in flight at once")
        assert not any(future.done() for future in futures)
        fsync.gate.set()
        assert [future.result(DEADLINE) for future in futures] == [2, 2, 2]
    assert flusher.flushes == 3
    assert all(log.recovery_point == log.log_end_offset for log in logs)


def test_one_request_for_many_logs_flushes_each_once_and_each_log_hears_its_own_end(
    tmp_path: Path, clock: ManualClock
) -> None:
    # The Raft driver asks for every log of a pass at once (issue 21): one lock, one
    # flush per log, each future resolved with its own log's end.
    logs = [fresh_log(tmp_path / f"l{i}", clock) for i in range(3)]
    for count, log in enumerate(logs, start=1):
        log.append(make_batch(count), 1)
    with Flusher() as flusher:
        futures = flusher.request_all(logs)
        assert [future.result(DEADLINE) for future in futures] == [2, 3, 4]
        assert flusher.request_all([]) == []
    assert flusher.flushes == 3
    assert all(log.recovery_point == log.log_end_offset for log in logs)
    with pytest.raises(KafkaStorageError, match="stopped"):
        flusher.request_all(logs)[2].result(DEADLINE)


class FsyncGatedFor(GatedFsync):
    """A :class:`GatedFsync` whose gate holds only the fsyncs of one file (by inode)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.inode = path.stat().st_ino

    def __call__(self, fd: int) -> None:
        if os.fstat(fd).st_ino == self.inode:
            super().__call__(fd)
        else:
            os.fdatasync(fd)


def test_a_log_does_not_wait_for_another_logs_fsync(tmp_path: Path, clock: ManualClock) -> None:
    # Issue 22: a request for log B that came while log A's fsync ran used to wait for
    # A's whole round to end; now B is flushed at once by a free thread.
    slow, fast = (fresh_log(tmp_path / name, clock) for name in ("slow", "fast"))
    fsync = FsyncGatedFor(max((tmp_path / "slow" / "t-0").glob("*.log")))
    fsync.gate.clear()
    with Flusher(fsync=fsync) as flusher:
        slow.append(make_batch(1), 1)
        held = flusher.request(slow)
        assert fsync.entered.wait(DEADLINE)  # A's fsync runs, held
        fast.append(make_batch(2), 1)
        assert flusher.request(fast).result(DEADLINE) == 3, "B waited for A's fsync"
        assert not held.done()
        fsync.gate.set()
        assert held.result(DEADLINE) == 2


def test_a_request_the_running_flush_covers_needs_no_fsync_of_its_own(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Issue 22 (Raft's asynchronous writes): data written before a running flush took its
    # snapshot is durable when that flush ends; a request for it made meanwhile used to
    # start a second fsync of the same file behind the first.
    log = fresh_log(tmp_path, clock)
    fsync = GatedFsync()
    fsync.gate.clear()
    with Flusher(fsync=fsync) as flusher:
        log.append(make_batch(3), 1)
        first = flusher.request(log)
        assert fsync.entered.wait(DEADLINE)  # its snapshot (end 4) is taken
        again = flusher.request(log)  # nothing appended since: the running flush covers it
        assert not again.done()
        fsync.gate.set()
        assert first.result(DEADLINE) == again.result(DEADLINE) == 4
        assert flusher.request(log).result(DEADLINE) == 4  # durable already: answered at once
        assert fsync.calls == 1 and flusher.flushes == 1 and flusher.covered == 2


def test_a_truncation_is_flushed_although_the_recovery_point_covers_the_new_end(
    tmp_path: Path, clock: ManualClock
) -> None:
    # A truncation lowers the recovery point to the new end; the cut length, the epoch
    # checkpoint and the directory still need the flush a Raft Ready asks for.
    log = fresh_log(tmp_path, clock)
    for _ in range(3):
        log.append(make_batch(2), 1)
    log.flush()
    fsync = GatedFsync()
    with Flusher(fsync=fsync) as flusher:
        log.truncate_to(3)
        assert log.recovery_point >= log.log_end_offset == 3
        assert flusher.request(log).result(DEADLINE) == 3
        assert fsync.calls >= 1 and flusher.covered == 0
        assert flusher.request(log).result(DEADLINE) == 3  # nothing left: answered at once
        assert flusher.covered == 1
