"""A partition's log on real files: appends, reads, rolls, time, retention, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from logd.clock import ManualClock
from logd.errors import (
    CorruptRecordError,
    FencedLeaderEpochError,
    InvalidRequestError,
    MessageTooLargeError,
    OffsetOutOfRangeError,
)
from logd.records.header import parse_header
from logd.storage import Log, LogConfig
from logd.storage.cleaner import clean_log
from logd.storage.rewrite import empty_batch
from tests.storage.batches import BASE_TS, make_batch, stamped
from tests.storage.compaction import keyed_batch

SMALL = LogConfig(segment_bytes=1500, index_interval_bytes=250)


def open_log(tmp_path: Path, clock: ManualClock, config: LogConfig = SMALL, **kwargs: bool) -> Log:
    return Log.open(tmp_path / "events-0", config, clock, **kwargs)


def fill(log: Log, count: int, *, records: int = 2, size: int = 200, epoch: int = 1) -> list[bytes]:
    """Append ``count`` batches; returns each one as stored (stamped)."""
    stored = []
    for index in range(count):
        batch = make_batch(records, size, timestamp=BASE_TS + index * 10, seed=index)
        log.append(batch, epoch)
        stored.append(bytes(batch))
    return stored


def split(data: bytes) -> list[bytes]:
    out, position = [], 0
    while position < len(data):
        size = parse_header(data, position).size
        out.append(data[position : position + size])
        position += size
    assert position == len(data)
    return out


def read_all(log: Log) -> list[bytes]:
    batches, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        chunk = split(log.read(offset, 10**6))
        assert chunk, f"no progress at {offset}"
        batches.extend(chunk)
        offset = parse_header(chunk[-1]).next_offset
    return batches


def test_append_stamps_offsets_and_epoch_in_place(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    first = make_batch(3)
    info = log.append(first, 7)
    assert (info.first_offset, info.last_offset, info.size) == (0, 2, 200)
    header = parse_header(first)
    assert (header.base_offset, header.partition_leader_epoch) == (0, 7)
    second = bytes(make_batch(2, timestamp=BASE_TS + 5))  # read-only: copied, then stamped
    info = log.append(second, 7)
    assert (info.first_offset, info.last_offset, info.max_timestamp) == (3, 4, BASE_TS + 5)
    assert log.log_end_offset == 5
    assert log.read(3, 10**6) == bytes(stamped(bytearray(second), 3, 7))


def test_reads_across_rolls_return_every_batch_as_stored(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    stored = fill(log, 40)
    assert len(log.segment_base_offsets()) > 5
    assert read_all(log) == stored
    for index, batch in enumerate(stored):  # every offset, including mid-batch ones
        for offset in (2 * index, 2 * index + 1):
            assert split(log.read(offset, 1))[0] == batch


def test_bytes_from_counts_the_stored_bytes_from_the_batch_holding_an_offset(
    tmp_path: Path, clock: ManualClock
) -> None:
    """What a replica holding the log below an offset still lacks (a move's bytes left)."""
    log = open_log(tmp_path, clock)
    stored = fill(log, 40)  # batches of 2 records, over several segments
    assert len(log.segment_base_offsets()) > 5
    total = sum(len(b) for b in stored)
    assert log.bytes_from(0) == log.size_bytes == total
    for index in range(len(stored)):
        rest = sum(len(b) for b in stored[index:])
        assert log.bytes_from(2 * index) == log.bytes_from(2 * index + 1) == rest
    assert log.bytes_from(log.log_end_offset) == log.bytes_from(10**6) == 0


def test_a_read_is_at_least_one_whole_batch_and_whole_batches_only(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, LogConfig(index_interval_bytes=100))
    stored = fill(log, 10, size=300)
    assert log.read(0, 1) == stored[0]
    assert log.read(0, 0) == stored[0]
    assert log.read(0, 899) == b"".join(stored[:2])
    assert log.read(0, 900) == b"".join(stored[:3])
    assert log.read(4, 10**6) == b"".join(stored[2:])
    assert log.read(log.log_end_offset, 100) == b""


def test_max_offset_hides_batches_at_and_past_the_high_watermark(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    stored = fill(log, 20)
    assert read_all(log) == stored
    for high_watermark in range(41):
        data = split(log.read(0, 10**6, max_offset=high_watermark))
        visible = [b for b in stored if parse_header(b).last_offset < high_watermark]
        assert data == visible[: len(data)]
        if len(data) < len(visible):
            # A read stays in one segment: it may stop early only where the next one starts.
            assert (
                data and parse_header(visible[len(data)]).base_offset in log.segment_base_offsets()
            )
    assert log.read(10, 10**6, max_offset=10) == b""
    assert log.read(10, 10**6, max_offset=11) == b""  # batch [10, 11] is not all committed


def test_offsets_outside_the_log_are_out_of_range(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    fill(log, 3)
    with pytest.raises(OffsetOutOfRangeError, match=r"\[0, 6\]"):
        log.read(7, 100)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(-1, 100)


def test_bad_batches_are_refused_with_typed_errors(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, LogConfig(max_message_bytes=1000))
    damaged = make_batch(1)
    damaged[100] ^= 0xFF
    with pytest.raises(CorruptRecordError, match="CRC"):
        log.append(damaged, 1)
    with pytest.raises(CorruptRecordError):
        log.append(make_batch(1)[:150], 1)
    with pytest.raises(MessageTooLargeError, match=r"max\.message\.bytes"):
        log.append(make_batch(1, 1001), 1)
    log.append(make_batch(1), 5)
    with pytest.raises(FencedLeaderEpochError):
        log.append(make_batch(1), 4)
    with pytest.raises(InvalidRequestError):
        log.append(make_batch(1), -1)
    assert log.log_end_offset == 1


def test_segments_roll_by_size_by_time_and_by_index_fullness(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path / "size", clock, LogConfig(segment_bytes=1000))
    fill(log, 10, size=300)
    assert log.segment_base_offsets() == [0, 6, 12, 18, 24][: len(log.segment_base_offsets())]
    assert len(log.segment_base_offsets()) == 4  # 3 batches of 300 bytes a segment

    timed = open_log(tmp_path / "time", clock, LogConfig(segment_ms=1000))
    timed.append(make_batch(1, timestamp=clock.now_ms()), 1)
    clock.advance(999)
    timed.append(make_batch(1, timestamp=clock.now_ms()), 1)
    assert timed.segment_base_offsets() == [0]
    clock.advance(1)
    timed.append(make_batch(1, timestamp=clock.now_ms()), 1)
    assert timed.segment_base_offsets() == [0, 2]
    # Batches without timestamps age on the broker's clock instead.
    timed.append(make_batch(1, timestamp=-1), 1)
    clock.advance(1000)
    timed.append(make_batch(1, timestamp=-1), 1)
    assert timed.segment_base_offsets() == [0, 2, 4]

    indexed = open_log(
        tmp_path / "index", clock, LogConfig(segment_index_bytes=24, index_interval_bytes=0)
    )
    fill(indexed, 6)
    assert len(indexed.segment_base_offsets()) == 2  # a 2-entry time index fills first


def test_offset_for_timestamp_finds_the_first_batch_at_or_after(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    fill(log, 30)  # batch i: offsets [2i, 2i+1], max timestamp BASE_TS + 10 i
    assert len(log.segment_base_offsets()) > 3
    for index in range(30):
        found = log.offset_for_timestamp(BASE_TS + 10 * index)
        assert found is not None and (found.offset, found.timestamp) == (
            2 * index,
            BASE_TS + 10 * index,
        )
        between = log.offset_for_timestamp(BASE_TS + 10 * index - 3)
        assert between is not None and between.offset == 2 * index
    assert log.offset_for_timestamp(0) is not None
    assert log.offset_for_timestamp(BASE_TS + 10 * 30) is None
    assert log.offset_for_timestamp(BASE_TS + 100, max_offset=20) is None
    assert log.offset_for_timestamp(BASE_TS + 100, max_offset=21) is not None


def test_timestamps_out_of_order_still_find_the_first_qualifying_batch(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, LogConfig(index_interval_bytes=0))
    stamps = [50, 10, 70, 30, 70, 90, 20]
    for index, ts in enumerate(stamps):
        log.append(make_batch(1, timestamp=BASE_TS + ts, seed=index), 1)
    for target in range(0, 100, 5):
        expected = next((i for i, ts in enumerate(stamps) if ts >= target), None)
        found = log.offset_for_timestamp(BASE_TS + target)
        assert (found.offset if found else None) == expected, target


def test_retention_by_size_keeps_at_least_the_limit(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, LogConfig(segment_bytes=1000, retention_bytes=1801))
    stored = fill(log, 12, size=300)  # 4 segments of 900 bytes
    assert log.segment_base_offsets() == [0, 6, 12, 18]
    # Kafka's rule: delete only while what remains stays at or above retention.bytes.
    assert log.enforce_retention(limit_offset=log.log_end_offset) == 1
    log.update_config(LogConfig(segment_bytes=1000, retention_bytes=1800))
    assert log.enforce_retention(limit_offset=log.log_end_offset) == 1
    assert log.segment_base_offsets() == [12, 18]
    assert log.log_start_offset == 12 and log.size_bytes == 1800
    assert read_all(log) == stored[6:]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(11, 100)


def test_retention_by_time_never_takes_the_active_segment_or_passes_the_limit(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, LogConfig(segment_bytes=1000, retention_ms=60_000))
    for _ in range(12):
        log.append(make_batch(2, 300, timestamp=clock.now_ms()), 1)
        clock.advance(10_000)
    assert log.segment_base_offsets() == [0, 6, 12, 18]
    # Segment 0 ended at +20 s, segment 6 at +50 s, segment 12 at +80 s; now is +120 s.
    assert log.enforce_retention(limit_offset=6) == 1  # the high watermark protects the rest
    assert log.enforce_retention(limit_offset=10**9) == 1
    assert log.segment_base_offsets() == [12, 18]
    clock.advance(10**9)
    assert log.enforce_retention(limit_offset=10**9) == 1
    assert log.segment_base_offsets() == [18]  # the active one stays, however old
    assert log.log_start_offset == 18


def test_truncate_to_drops_batches_across_segments(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    stored = fill(log, 30, epoch=1)
    fill_more = [make_batch(2, seed=100 + i) for i in range(5)]
    for batch in fill_more:
        log.append(batch, 2)
    assert log.epoch_entries() == [(1, 0), (2, 60)]
    log.truncate_to(23)  # inside batch [22, 23]: that batch goes too
    assert log.log_end_offset == 22
    assert read_all(log) == stored[:11]
    assert log.epoch_entries() == [(1, 0)]
    assert log.segment_base_offsets()[-1] <= 22
    info = log.append(make_batch(2), 3)
    assert info.first_offset == 22 and log.epoch_at(22) == 3
    log.truncate_to(10**6)  # past the end: nothing happens
    assert log.log_end_offset == 24


def test_truncate_to_the_end_of_a_cleaned_hole_ends_the_log_at_the_offset(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Issue 24 (the fault run's ``PartitionLog.append`` assertion, seed 3): a follower's
    last sealed segment ends with offsets its cleaner removed (here the empty batch a
    leader sent for offsets its own cleaner removed), and Raft cuts at the first
    uncommitted entry, right after them. The log must end at that offset -- the next
    entry goes there -- not after the last batch still stored."""
    config = LogConfig(cleanup_policy="compact", segment_bytes=4096, index_interval_bytes=256)
    log = open_log(tmp_path, clock, config)
    log.append_replicated(stamped(keyed_batch([(b"a", b"1")]), 0, 1))
    log.append_replicated(empty_batch(1, 2, 1))  # offsets 1..2 were cleaned on the leader
    log.roll()
    log.append_replicated(stamped(keyed_batch([(b"b", b"1")]), 3, 1))  # uncommitted
    log.flush()
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    assert [parse_header(b).base_offset for b in read_all(log)] == [0, 3]  # 1..2: a hole
    log.truncate_to(3)  # a new leader's entry 3 conflicts
    assert log.log_end_offset == 3
    info = log.append_replicated(stamped(keyed_batch([(b"c", b"2")]), 3, 2))
    assert (info.first_offset, log.log_end_offset, log.epoch_at(3)) == (3, 4, 2)
    assert [parse_header(b).base_offset for b in read_all(log)] == [0, 3]
    log.append_replicated(stamped(keyed_batch([(b"d", b"2")]), 4, 2))
    log.close()
    reopened = open_log(tmp_path, clock, config)
    assert reopened.log_end_offset == 5
    assert [parse_header(b).base_offset for b in read_all(reopened)] == [0, 3, 4]
    reopened.close()


def test_truncate_to_the_log_start_empties_the_log(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    fill(log, 10)
    log.truncate_to(0)
    assert (log.log_start_offset, log.log_end_offset) == (0, 0)
    assert log.read(0, 100) == b""
    assert log.last_offset_and_epoch() is None


def test_reset_to_restarts_an_empty_log_at_an_offset(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    fill(log, 10)
    log.reset_to(1000)
    assert (log.log_start_offset, log.log_end_offset) == (1000, 1000)
    assert log.segment_base_offsets() == [1000]
    assert log.epoch_entries() == []
    info = log.append(make_batch(2), 9)
    assert info.first_offset == 1000
    log.close()
    reopened = open_log(tmp_path, clock)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (1000, 1002)
    assert reopened.epoch_entries() == [(9, 1000)]


def test_delete_records_moves_the_log_start_inside_a_segment(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    stored = fill(log, 20)
    assert log.delete_records_before(13) == 13
    assert log.segment_base_offsets()[0] <= 12
    with pytest.raises(OffsetOutOfRangeError):
        log.read(12, 100)
    assert split(log.read(13, 1))[0] == stored[6]  # the batch holding 13 comes whole
    log.close()
    assert open_log(tmp_path, clock, clean_shutdown=True).log_start_offset == 13


def test_replicated_batches_must_continue_the_log(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    leader = [stamped(make_batch(2, seed=i), 2 * i, 1 + i // 3) for i in range(8)]
    info = log.append_replicated(b"".join(leader[:5]))
    assert (info.first_offset, info.last_offset, info.batch_count) == (0, 9, 5)
    with pytest.raises(InvalidRequestError, match="start at offset 12"):
        log.append_replicated(leader[6])
    with pytest.raises(InvalidRequestError, match="does not rise"):
        log.append_replicated(leader[5] + leader[5])
    with pytest.raises(InvalidRequestError, match="epoch"):
        log.append_replicated(stamped(make_batch(1), 10, 0))
    with pytest.raises(CorruptRecordError, match="truncated"):
        log.append_replicated(leader[5] + leader[6][:100])
    assert log.log_end_offset == 10  # nothing of a refused call was written
    log.append_replicated(leader[5] + leader[6] + leader[7])
    assert read_all(log) == [bytes(b) for b in leader]
    assert log.last_offset_and_epoch() == (15, 3)
    assert log.end_offset_for_epoch(2) == (2, 12)


def test_reopen_after_clean_close_continues_where_it_left(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    stored = fill(log, 25)
    bases, epochs = log.segment_base_offsets(), log.epoch_entries()
    log.close()
    for clean in (True, False):
        again = open_log(tmp_path, clock, clean_shutdown=clean)
        assert again.segment_base_offsets() == bases and again.epoch_entries() == epochs
        assert read_all(again) == stored
        assert again.log_end_offset == 50 and again.truncated_on_open == 0
        found = again.offset_for_timestamp(BASE_TS + 120)
        assert found is not None and found.offset == 24
        again.close()
    final = open_log(tmp_path, clock)
    assert final.append(make_batch(1), 1).first_offset == 50
