"""Crashes during a clean: at every file operation of the swap, and in random produce /
tombstone / clean / crash sequences checked against a model.

A crash is the directory as it stands when the process stops: the tests copy it before
each file operation of a clean (every rename, replace, unlink and removal -- the points
between which a crash can fall), or stop the clean there by failing the operation, then
open the copy without the clean-shutdown promise."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from logd.clock import ManualClock
from logd.storage import Log, LogConfig, swap
from logd.storage import cleaner as cleaner_module
from logd.storage.cleaner import clean_log
from logd.storage.offset_map import ENTRY_BYTES
from tests.storage.batches import BASE_TS
from tests.storage.compaction import keyed_batch, log_records

CONFIG = LogConfig(cleanup_policy="compact", segment_bytes=2048, delete_retention_ms=0)
Records = list[tuple[int, int, bytes | None, bytes | None]]


@contextmanager
def before_each_file_operation(action: Callable[[str], None]) -> Iterator[None]:
    """Call ``action(name)`` before every rename/replace/unlink/rmtree the clean makes."""
    originals: dict[tuple[Any, str], Any] = {
        (os, "rename"): os.rename,
        (os, "replace"): os.replace,
        (Path, "unlink"): Path.unlink,
        (shutil, "rmtree"): shutil.rmtree,
    }

    def wrap(name: str, original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            action(name)
            return original(*args, **kwargs)

        return wrapper

    try:
        for (owner, name), original in originals.items():
            setattr(owner, name, wrap(name, original))
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def fill(log: Log, rng: random.Random, batches: int, keys: int = 12) -> Records:
    """Random keyed batches (a tenth of the records tombstones); what was appended."""
    appended: Records = []
    for _ in range(batches):
        pairs = [
            (b"k%02d" % rng.randrange(keys), None if rng.random() < 0.1 else rng.randbytes(20))
            for _ in range(rng.randint(1, 4))
        ]
        info = log.append(keyed_batch(pairs, timestamp=BASE_TS), 1)
        appended.extend(
            (info.first_offset + i, BASE_TS + i, key, value) for i, (key, value) in enumerate(pairs)
        )
    return appended


def reopen(directory: Path, clock: ManualClock) -> tuple[Log, Records]:
    log = Log.open(directory, CONFIG, clock)
    try:
        assert not [p for p in directory.iterdir() if p.is_dir()], "a .cleaned or .swap stayed"
        assert not retired_files(directory), "retired files outlived the open"
        return log, log_records(log)
    finally:
        log.close()


@pytest.mark.parametrize("keys", [12, 1000])
def test_a_crash_at_any_step_of_a_clean_leaves_the_old_or_the_new_segments(
    tmp_path: Path, clock: ManualClock, keys: int
) -> None:
    """12 keys: the cleaned groups are small, one commit swaps them all; 1,000 keys: most
    records stay, a commit follows each ``segment.bytes`` written, so there are several."""
    log = Log.open(tmp_path / "live-0", CONFIG, clock)
    fill(log, random.Random(3), 70, keys)
    log.roll()
    log.flush()
    old = log_records(log)
    copies: list[Path] = []

    def snapshot(_: str) -> None:
        copy = tmp_path / f"crash{len(copies)}-0"
        shutil.copytree(log.directory, copy)
        copies.append(copy)

    with before_each_file_operation(snapshot):
        results = clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms() + 10**12)
    new = log_records(log)
    assert results[0].segments_cleaned >= 2 and len(new) < len(old)
    assert len(copies) > 10
    cuts = [0, *(r[0] for r in old), 1 << 62]
    seen = set()
    for copy in copies:
        _, records = reopen(copy, clock)
        # Commits swap groups oldest first: a crash leaves the groups before some offset
        # cleaned and the rest as they were -- never part of a commit, never a loss.
        matches = [
            cut
            for cut in cuts
            if records == [r for r in new if r[0] < cut] + [r for r in old if r[0] >= cut]
        ]
        assert matches, copy
        seen.add(min(matches))
    assert 0 in seen and len(seen) == (2 if keys == 12 else max(len(seen), 3))
    assert retired_files(log.directory)  # the old files wait for their delay...
    log.close()
    assert not retired_files(log.directory)  # ...or the close


def retired_files(directory: Path) -> list[Path]:
    return list(directory.glob("*.deleted"))


class _Crash(Exception):
    pass


def check_against_model(log: Log, history: Records, *, cleaned: bool) -> None:
    """See the test's docstring; ``cleaned``: a clean just completed without a crash."""
    records = log_records(log)
    by_offset = {r[0]: r for r in history}
    assert all(by_offset.get(r[0]) == r for r in records), "a record the model never had"
    last = {r[2]: r for r in history}
    kept = set(records)
    assert all(r in kept for r in last.values() if r[3] is not None), "a last value was lost"
    first_dirty = cleaner_module.read_checkpoint(log.directory)[0]
    later: dict[bytes | None, int] = {}
    for r in reversed([h for h in history if h[0] < first_dirty]):
        if r in kept:
            assert later.get(r[2], -1) < 0, f"{r} is superseded below {first_dirty}"
        later[r[2]] = r[0]
    if cleaned:
        assert [r for r in records if r[0] >= first_dirty] == [
            r for r in history if r[0] >= first_dirty
        ]


@pytest.mark.parametrize("seed", range(6))
def test_random_produce_clean_crash_sequences_match_the_model(
    tmp_path: Path, clock: ManualClock, seed: int
) -> None:
    """After every clean, crashed or not, the log holds each key's last record (a tombstone
    may be gone), nothing the model never had, nothing superseded below the cleaner's
    checkpoint, and after a clean that completed, every record of the uncleaned tail."""
    rng = random.Random(seed)
    directory = tmp_path / "t-0"
    log = Log.open(directory, CONFIG, clock)
    history: Records = []
    crashes: list[int] = []
    for _ in range(25):
        action = rng.choice(["produce", "produce", "clean", "crash-clean"])
        if action == "produce":
            history.extend(fill(log, rng, rng.randint(1, 15)))
            log.roll()
            log.flush()
            continue
        countdown = [rng.randint(1, 30) if action == "crash-clean" else -1]

        def maybe_crash(_: str, countdown: list[int] = countdown) -> None:
            countdown[0] -= 1
            if countdown[0] == 0:
                raise _Crash

        crashed = False
        try:
            with before_each_file_operation(maybe_crash):
                clean_log(
                    log,
                    map_bytes=rng.choice([8, 30, 1000]) * ENTRY_BYTES,
                    now_ms=clock.now_ms() + 10**12,
                )
        except _Crash:
            crashed = True
            crashes.append(countdown[0])
            log.discard()  # the process is gone: the next one finds the files as they are
            log = Log.open(directory, CONFIG, clock)
        check_against_model(log, history, cleaned=not crashed)
    log.close()
    assert crashes, "no crash happened: pick seeds that crash"


def segment_max_timestamps(log: Log) -> dict[int, int]:
    sources = log.cleanable_segments(log.log_end_offset)
    for source in sources:
        os.close(source.fd)
    return {source.base_offset: source.max_timestamp for source in sources}


def test_index_files_a_clean_did_not_fsync_are_rebuilt_at_the_next_open(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Power lost after a clean: its index files were never fsynced, so the disk may hold
    them torn.  Here: each cleaned offset index empty and each time index without its last
    entry -- which the open's sanity check would accept, understating the segment's
    largest timestamp (so time retention would delete it early).  The swap's markers make
    the open rebuild both from the ``.log``; the close fsyncs them and drops the markers."""
    config = dataclasses.replace(CONFIG, index_interval_bytes=64)  # an entry a batch
    log = Log.open(tmp_path / "live-0", config, clock)
    for i in range(60):  # timestamps rise batch by batch: each adds a time-index entry
        pairs = [(b"k%02d" % ((3 * i + j) % 40), b"v%d" % i) for j in range(3)]
        log.append(keyed_batch(pairs, timestamp=BASE_TS + 1000 * i), 1)
    log.roll()
    log.flush()
    clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
    crashed = tmp_path / "crashed-0"
    shutil.copytree(log.directory, crashed)  # the disk, had the power gone just now
    marked = swap.unsynced_bases(crashed)
    assert marked
    torn = 0
    for base in marked:
        (crashed / f"{base:020d}.index").write_bytes(b"")
        times = crashed / f"{base:020d}.timeindex"
        if times.stat().st_size >= 2 * 12:
            os.truncate(times, times.stat().st_size - 12)
            torn += 1
    assert torn
    largest = segment_max_timestamps(log)
    reopened = Log.open(crashed, config, clock)
    assert segment_max_timestamps(reopened) == largest
    for i in range(60):
        ts = BASE_TS + 1000 * i
        assert reopened.offset_for_timestamp(ts) == log.offset_for_timestamp(ts), i
    assert log_records(reopened) == log_records(log)
    for closing in (reopened, log):
        assert list(closing.directory.glob("*" + swap.UNSYNCED_SUFFIX))
        closing.close()
        assert not list(closing.directory.glob("*" + swap.UNSYNCED_SUFFIX))


def test_a_log_cleaned_again_and_again_keeps_about_one_marker(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, clock)
    rng = random.Random(5)
    for _ in range(8):
        fill(log, rng, 30)
        log.roll()
        log.flush()
        clean_log(log, map_bytes=1 << 20, now_ms=clock.now_ms())
        assert 1 <= len(list(log.directory.glob("*" + swap.UNSYNCED_SUFFIX))) <= 2
    log.close()
