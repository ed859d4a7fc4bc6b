"""The log cleaner on real files: what survives a clean, tombstones, producers' last batches,
offsets and timestamps, the memory bound and the I/O rate limit."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from logd.clock import ManualClock
from logd.errors import KafkaStorageError
from logd.records.header import parse_header, validate_batch
from logd.storage import Log, LogConfig, cscan
from logd.storage.cleaner import (
    CHECKPOINT_NAME,
    CLEANER_NICE,
    CleanerConfig,
    LogCleaner,
    clean_log,
)
from logd.storage.offset_map import ENTRY_BYTES, SLOT_BYTES, OffsetMap, TableOffsetMap
from logd.storage.rewrite import empty_batch
from logd.storage.throttle import Throttler
from tests.helpers import wait_until
from tests.storage.batches import stamped
from tests.storage.compaction import SENTINEL, keyed_batch, log_batches, log_records

COMPACT = LogConfig(
    cleanup_policy="compact",
    segment_bytes=4096,
    delete_retention_ms=60_000,
    index_interval_bytes=256,
)


def open_log(tmp_path: Path, clock: ManualClock, config: LogConfig = COMPACT) -> Log:
    return Log.open(tmp_path / "t-0", config, clock)


def produce(log: Log, rounds: int, keys: int, *, epoch: int = 1) -> list[tuple[int, bytes, bytes]]:
    """``rounds`` values for each of ``keys`` keys, one batch of 5 records at a time."""
    history: list[tuple[int, bytes, bytes]] = []
    pairs = [(b"k%03d" % k, b"v%d-%d" % (r, k)) for r in range(rounds) for k in range(keys)]
    for i in range(0, len(pairs), 5):
        chunk = pairs[i : i + 5]
        info = log.append(keyed_batch(chunk), epoch)
        history.extend((info.first_offset + j, k, v) for j, (k, v) in enumerate(chunk))
    return history


def settle(log: Log) -> None:
    """Seal what was written: the cleaner may clean it from now on."""
    log.roll()
    log.append(keyed_batch([(SENTINEL, b"")]), 1)
    log.flush()


def test_a_clean_keeps_the_last_value_of_every_key_with_its_offset_and_time(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    history = produce(log, rounds=20, keys=10)
    settle(log)
    before = {(o, k): ts for o, ts, k, _ in log_records(log)}
    results = clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    assert results and results[-1].records_removed == 190
    survivors = log_records(log)
    last = {k: (o, v) for o, k, v in history}
    assert [(o, k, v) for o, _, k, v in survivors] == sorted(
        (o, k, v) for k, (o, v) in last.items()
    )
    assert all(before[(o, k)] == ts for o, ts, k, _ in survivors)  # timestamps kept
    assert log.log_end_offset == 201 and log.log_start_offset == 0
    for batch in log_batches(log)[:-1]:  # every batch keeps the offsets it covered
        header = parse_header(batch)
        assert header.base_offset % 5 == 0 and header.last_offset_delta == 4
    # Appends go on after the clean, and reopening finds the same log.
    log.append(keyed_batch([(b"k000", b"new")]), 1)
    log.close()
    again = Log.open(tmp_path / "t-0", COMPACT, clock, clean_shutdown=True)
    assert [r[2:] for r in log_records(again)][-1] == (b"k000", b"new")
    again.close()


def test_tombstones_stay_delete_retention_ms_then_go(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    produce(log, rounds=2, keys=5)
    log.append(keyed_batch([(b"k001", None), (b"k003", None)]), 1)
    settle(log)
    written = max(os.stat(p).st_mtime_ns for p in log.directory.glob("*.log")) // 1_000_000
    clean_log(log, map_bytes=1 << 20, now_ms=written + 59_000)  # within delete.retention.ms
    kept = {k: v for _, _, k, v in log_records(log)}
    assert kept[b"k001"] is None and kept[b"k003"] is None and len(kept) == 5
    produce(log, rounds=1, keys=1)  # something dirty, so a pass runs again
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=written + 61_000)
    keys = [k for _, _, k, _ in log_records(log)]
    assert b"k001" not in keys and b"k003" not in keys
    assert sorted(set(keys)) == [b"k000", b"k002", b"k004"]


def test_a_producers_last_batch_keeps_its_header_when_its_records_go(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    log.append(keyed_batch([(b"a", b"1"), (b"b", b"1")], producer=(7, 3, 0)), 1)
    log.append(keyed_batch([(b"a", b"2")], producer=(7, 3, 2)), 1)  # last of producer 7
    log.append(keyed_batch([(b"a", b"3"), (b"b", b"3")]), 1)  # no producer
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    headers = [parse_header(b) for b in log_batches(log)[:-1]]
    assert [(h.base_offset, h.last_offset, h.record_count, h.producer_id) for h in headers] == [
        (2, 2, 0, 7),  # empty, but producer 7's epoch 3 and sequence 2 survive
        (3, 4, 2, -1),
    ]
    assert (headers[0].producer_epoch, headers[0].base_sequence) == (3, 2)


def test_compressed_batches_are_rewritten_with_their_codec(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    log.append(keyed_batch([(b"a", b"1" * 100), (b"b", b"1")], compression=3), 1)
    log.append(keyed_batch([(b"a", b"2")]), 1)
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    first = parse_header(log_batches(log)[0])
    assert first.compression == 3 and first.record_count == 1 and first.last_offset_delta == 1
    assert [(o, k, v) for o, _, k, v in log_records(log)] == [(1, b"b", b"1"), (2, b"a", b"2")]


@pytest.mark.parametrize("implementation", cscan.IMPLEMENTATIONS)
def test_a_log_twenty_times_larger_than_the_map_is_cleaned_in_passes_within_the_bound(
    tmp_path: Path, clock: ManualClock, implementation: str
) -> None:
    config = LogConfig(cleanup_policy="compact", segment_bytes=8 * 1024)
    log = open_log(tmp_path, clock, config)
    map_type = OffsetMap if implementation == "python" else TableOffsetMap
    map_bytes = map_type.bytes_for(50)  # 50 keys a pass
    history = produce(log, rounds=2, keys=500)  # 1000 records: 20 maps' worth
    settle(log)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        results = clean_log(
            log, map_bytes=map_bytes, now_ms=clock.now_ms(), implementation=implementation
        )
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert len(results) >= 20 and all(r.map_full for r in results[:-1])
    # The map, plus the I/O windows (1 MiB) and one segment being written.  The C map's
    # table is an mmap that tracemalloc does not see: its size is fixed by map_bytes.
    assert peak < map_bytes + (2 << 20), peak
    if implementation == "c":
        table = TableOffsetMap(map_bytes, cscan.native("c"))  # type: ignore[arg-type]
        assert table.slots * SLOT_BYTES <= map_bytes
    last = {k: (o, v) for o, k, v in history}
    assert [(o, k, v) for o, _, k, v in log_records(log)] == sorted(
        (o, k, v) for k, (o, v) in last.items()
    )


def test_a_damaged_batch_stops_the_pass_and_nothing_is_swapped(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    produce(log, rounds=10, keys=10)
    settle(log)
    before = log_batches(log)
    segment = log.directory / "00000000000000000000.log"
    with open(segment, "r+b") as f:  # a flipped bit inside the second batch's records
        f.seek(len(before[0]) + 70)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(KafkaStorageError, match="CRC-32C"):
        clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    assert sorted(p.name for p in log.directory.iterdir() if p.is_dir()) == []
    assert log.segment_base_offsets()[0] == 0 and segment.stat().st_size == sum(
        len(b) for b in before if parse_header(b).base_offset < log.segment_base_offsets()[1]
    )


def test_the_throttler_holds_the_rate_on_its_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttler = Throttler(1000.0, check_interval_s=0.1, clock=lambda: now[0], sleep=sleep)
    for _ in range(100):
        now[0] += 0.01
        throttler.maybe_throttle(100)  # 10,000 B/s offered
    total = sum(slept) + 100 * 0.01
    assert 9.5 <= total <= 10.5  # 10,000 bytes at 1,000 B/s


def test_the_throttler_paces_every_window_rather_than_after_a_burst() -> None:
    # Kafka's throttler lets a whole check interval go at full speed, then pauses: a burst
    # that starves appends on a small machine.  Here each 1 MiB read is followed by its
    # share of the pause (reads take no time on this clock: all the pacing is sleep).
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttler = Throttler(8 << 20, check_interval_s=0.3, clock=lambda: now[0], sleep=sleep)
    for _ in range(8):
        throttler.maybe_throttle(1 << 20)
    assert slept == pytest.approx([0.125] * 8)


def test_the_offset_map_keeps_the_last_offset_and_counts_its_room() -> None:
    offset_map = OffsetMap(3 * ENTRY_BYTES)
    assert offset_map.capacity == 3 and offset_map.room_for(3) and not offset_map.room_for(4)
    offset_map.put(b"a", 1)
    offset_map.put(b"a", 5)
    assert offset_map.get(b"a") == 5 and offset_map.get(b"b") == -1 and len(offset_map) == 1


def test_empty_batches_a_leader_sent_for_cleaned_offsets_go_at_the_next_clean(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    log.append(keyed_batch([(b"a", b"1")]), 1)
    gap = empty_batch(1, 9, 1)  # offsets 1..9 were cleaned away on the leader
    assert validate_batch(gap, stored=True).record_count == 0
    log.append_replicated(gap)
    log.append_replicated(stamped(keyed_batch([(b"b", b"2")]), 10, 1))
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    headers = [parse_header(b) for b in log_batches(log)[:-1]]
    assert [(h.base_offset, h.record_count) for h in headers] == [(0, 1), (10, 1)]


def test_stopping_the_cleaner_abandons_a_slow_clean_at_once_and_leaves_the_log_whole(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    produce(log, rounds=400, keys=10)  # longer than one throttle interval to clean
    settle(log)
    before = log_records(log)
    slow = CleanerConfig(io_max_bytes_per_second=1024.0, backoff_ms=10)  # hours for this log
    cleaner = LogCleaner(lambda: [log], slow, clock)
    cleaner.start()
    wait_until(lambda: cleaner._throttler.pauses, timeout=30, message="a pause")
    started = time.monotonic()
    cleaner.stop()
    assert time.monotonic() - started < 5
    after = log_records(log)  # groups swapped before the stop stay swapped: whole groups
    assert cleaner.cleans == 0 and set(after) <= set(before)
    assert {k: (o, v) for o, _, k, v in after} == {k: (o, v) for o, _, k, v in before}
    assert not [p for p in log.directory.iterdir() if p.is_dir()]  # no .cleaned left


def test_replaced_segment_files_wait_file_delete_delay_ms_then_the_cleaner_deletes_them(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Kafka's delayed deletion: the swap renames the old files to ``*.deleted`` (closing
    and unlinking large files frees their page cache, which is slow) and the cleaner's
    next round after ``file.delete.delay.ms`` deletes them."""
    log = open_log(tmp_path, clock, dataclasses.replace(COMPACT, file_delete_delay_ms=5000))
    produce(log, rounds=30, keys=5)
    settle(log)
    before = log_records(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    retired = sorted(p.name for p in log.directory.glob("*.deleted"))
    assert retired and all(p.endswith(".log.deleted") or "index" in p for p in retired)
    latest = {k: (o, v) for o, _, k, v in before}
    assert {k: (o, v) for o, _, k, v in log_records(log)} == latest  # the new segments
    cleaner = LogCleaner(lambda: [log], CleanerConfig(), clock)
    clock.advance(4999)
    cleaner.clean_filthiest()
    assert sorted(p.name for p in log.directory.glob("*.deleted")) == retired
    clock.advance(1)
    cleaner.clean_filthiest()
    assert not list(log.directory.glob("*.deleted"))
    log.close()


def test_the_cleaner_thread_lowers_its_own_cpu_priority_and_no_other_threads() -> None:
    """The cleaner yields the CPU to the produce path (``nice`` is per thread on Linux)."""
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    cleaner = LogCleaner(list, CleanerConfig(backoff_ms=10))
    cleaner.start()
    try:
        wait_until(lambda: cleaner.thread_id is not None, timeout=10, message="a thread id")
        tid = cleaner.thread_id
        assert tid is not None
        want = max(mine, CLEANER_NICE)
        wait_until(lambda: os.getpriority(os.PRIO_PROCESS, tid) == want, timeout=10,
                   message=f"the cleaner at nice {want}")  # fmt: skip
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == mine  # the main thread
    finally:
        cleaner.stop()


@pytest.mark.parametrize("lost", ["previous", "empty", "zeros", "gone"])
def test_a_lost_cleaner_checkpoint_only_makes_the_next_clean_map_more(
    tmp_path: Path, clock: ManualClock, lost: str
) -> None:
    """The checkpoint is not fsynced: after a crash it may be the previous version, torn
    or missing.  The next clean still leaves exactly the last value of every key."""
    log = open_log(tmp_path, clock)
    path = log.directory / CHECKPOINT_NAME
    history = produce(log, rounds=6, keys=8)
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    previous = path.read_bytes()
    history += produce(log, rounds=6, keys=8)
    settle(log)
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    assert path.read_bytes() != previous
    if lost == "gone":
        path.unlink()
    else:
        path.write_bytes({"previous": previous, "empty": b"", "zeros": bytes(24)}[lost])
    history += produce(log, rounds=6, keys=8)
    settle(log)
    assert clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    last = {k: (o, v) for o, k, v in history}
    assert [(o, k, v) for o, _, k, v in log_records(log) if k != SENTINEL] == sorted(
        (o, k, v) for k, (o, v) in last.items()
    )
    log.close()
