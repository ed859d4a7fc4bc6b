"""Random operation sequences against a plain-list model of the log (seeded, repeatable).

Every step is followed by checks of what users observe: the bytes of every batch, reads
from any offset, ListOffsets by time, the epoch of any offset, and the log's bounds.  The
operations cover the interplay that unit tests take one at a time: appends with rolls
by size and by full indexes, truncations into sealed segments, retention, clean and
unclean reopens.  A failure prints the seed and the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from logd.clock import ManualClock
from logd.storage import Log, LogConfig
from tests.storage.batches import BASE_TS, make_batch
from tests.storage.test_log import read_all, split

CONFIG = LogConfig(segment_bytes=1200, index_interval_bytes=150, segment_index_bytes=96)


@dataclass
class Stored:
    base: int
    last: int
    max_ts: int
    epoch: int
    data: bytes


class Model:
    def __init__(self) -> None:
        self.batches: list[Stored] = []
        self.start = 0
        self.end = 0
        self.epoch = 1

    def holding(self, offset: int) -> Stored | None:
        return next((b for b in self.batches if b.last >= offset), None)


def step(log: Log, model: Model, rng: random.Random, directory: Path, clock: ManualClock) -> Log:
    roll = rng.random()
    if roll < 0.55:
        model.epoch += rng.random() < 0.1
        records = rng.randint(1, 3)
        ts = BASE_TS + rng.randint(0, 2000)  # out of order on purpose
        batch = make_batch(records, rng.randint(61, 400), timestamp=ts, seed=rng.getrandbits(32))
        info = log.append(batch, model.epoch)
        model.batches.append(
            Stored(info.first_offset, info.last_offset, ts, model.epoch, bytes(batch))
        )
        model.end = info.last_offset + 1
    elif roll < 0.65 and model.end > model.start + 1:
        target = rng.randint(model.start + 1, model.end)
        log.truncate_to(target)
        held = model.holding(target)
        if held is not None:
            model.batches = [b for b in model.batches if b.last < target]
            model.end = held.base
        if model.batches:
            model.epoch = max(model.epoch, model.batches[-1].epoch)
    elif roll < 0.72:
        log.roll()
    elif roll < 0.78:
        log.update_config(
            LogConfig.from_strings({"retention.bytes": str(rng.randint(0, 3000))}, CONFIG)
        )
        log.enforce_retention(limit_offset=rng.randint(model.start, model.end))
        log.update_config(CONFIG)
        model.start = log.log_start_offset
        model.batches = [b for b in model.batches if b.last >= model.start]
    elif roll < 0.89:
        log.close()
        log = Log.open(directory, CONFIG, clock, clean_shutdown=True)
    else:
        log.close()
        log = Log.open(directory, CONFIG, clock, clean_shutdown=False)  # re-scans from the point
        assert log.truncated_on_open == 0
    return log


def check(log: Log, model: Model, rng: random.Random) -> None:
    assert (log.log_start_offset, log.log_end_offset) == (model.start, model.end)
    assert read_all(log) == [b.data for b in model.batches]
    for _ in range(4):
        if model.end > model.start:
            offset = rng.randint(model.start, model.end - 1)
            held = model.holding(offset)
            assert held is not None
            assert split(log.read(offset, 1))[0] == held.data
            assert log.epoch_at(offset) == held.epoch
        target = BASE_TS + rng.randint(-10, 2010)
        expected = next((b for b in model.batches if b.max_ts >= target), None)
        found = log.offset_for_timestamp(target)
        if expected is None:
            assert found is None
        else:
            assert found is not None
            assert (found.offset, found.timestamp) == (
                max(expected.base, model.start),
                expected.max_ts,
            )
    last = log.last_offset_and_epoch()
    if model.batches and model.batches[-1].last == model.end - 1:
        assert last == (model.end - 1, model.batches[-1].epoch)


@pytest.mark.parametrize("seed", range(12))
def test_random_operations_match_the_model(tmp_path: Path, clock: ManualClock, seed: int) -> None:
    rng = random.Random(seed)
    directory = tmp_path / "t-0"
    log = Log.open(directory, CONFIG, clock)
    model = Model()
    for number in range(150):
        try:
            log = step(log, model, rng, directory, clock)
            check(log, model, rng)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, step {number}: {exc}") from exc
