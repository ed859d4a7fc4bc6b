"""The latency floor (bench/peers/latency_floor.py): a real relay process, real files --
every record sent reaches the consumer, and is in its partition's file by then."""

from __future__ import annotations

from pathlib import Path

from bench.peers.latency_floor import PARTITIONS, floor_e2e


def test_the_floor_relay_delivers_every_record_after_writing_it(tmp_path: Path) -> None:
    lat = floor_e2e(tmp_path, rate=2000, seconds=0.3)
    assert len(lat) == 600
    assert all(ms > 0 for ms in lat)
    sizes = [(tmp_path / f"p{i}.log").stat().st_size for i in range(PARTITIONS)]
    assert sum(sizes) == 600 * (5 + 100)  # each record: its 5-byte head and 100 bytes
    assert min(sizes) > 0  # round robin over every partition
