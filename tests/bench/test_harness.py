"""The suite's shared helpers that touch the machine: the fdatasync probe a latency row states."""

from __future__ import annotations

from pathlib import Path

from bench.harness import fdatasync_ms


def test_the_fdatasync_probe_gives_a_median_and_leaves_nothing_behind(tmp_path: Path) -> None:
    took = fdatasync_ms(tmp_path, count=5)
    assert 0.0 < took < 10_000.0
    assert list(tmp_path.iterdir()) == []
