"""The log cleaner on real files: what survives a clean, tombstones, producers' last batches,
offsets and timestamps, the memory bound and the I/O rate limit."""

from __future__ import annotations

from pathlib import Path

from logd.clock import ManualClock
from logd.records.header import parse_header
from logd.storage import Log, LogConfig
from logd.storage.cleaner import clean_log
from tests.storage.compaction import keyed_batch, log_batches, log_records

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
    log.roll()
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
    assert log.log_end_offset == 200 and log.log_start_offset == 0
    for batch in log_batches(log):  # every batch keeps the offsets it covered
        header = parse_header(batch)
        assert header.base_offset % 5 == 0 and header.last_offset_delta == 4
    # Appends go on after the clean, and reopening finds the same log.
    log.append(keyed_batch([(b"k000", b"new")]), 1)
    log.close()
    again = Log.open(tmp_path / "t-0", COMPACT, clock, clean_shutdown=True)
    assert [r[2:] for r in log_records(again)][-1] == (b"k000", b"new")
    again.close()
