"""The scrub and the cut a damaged replica repairs itself with (``find_damage`` then
``Log.truncate_to``, ``PartitionReplica.repair``): whatever single bit flips in a sealed
segment, the scrub finds the first damaged batch and the log can be cut there, keeping
exactly the whole batches before it.

The fault soak found the case this guards (seed 0, fault 28): a flipped bit in a batch's
*length* field; the scrub named the batch, but the cut walked into the same damaged header
and failed, and the replica stayed stopped, out of the ISR for good.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.clock import ManualClock
from logd.cluster.damage import find_damage
from logd.records.header import parse_header
from logd.storage import Log
from tests.storage.batches import BASE_TS, make_batch
from tests.storage.test_log import SMALL, split

#: The leader epoch lies outside the CRC and is only checked where epochs would fall.
_EPOCH = slice(12, 16)
_LENGTH_BYTE = 9  # the second byte of the big-endian batchLength
_SIZE = 200  # every batch's size in bytes


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(BASE_TS)


def _sealed_log(directory: Path, clock: ManualClock) -> list[bytes]:
    """30 batches of 200 bytes (2 records each), three epochs, four or more segments."""
    log = Log.open(directory, SMALL, clock)
    stored = []
    for i in range(30):
        batch = make_batch(2, _SIZE, seed=i)
        log.append(batch, 1 + i // 10)
        stored.append(bytes(batch))
        assert len(batch) == _SIZE
    log.close()
    assert len(log.segment_base_offsets()) >= 4
    return stored


def _flip(path: Path, position: int, mask: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


def _masked(batch: bytes) -> bytes:
    return batch[: _EPOCH.start] + batch[_EPOCH.stop :]


def _readable(log: Log) -> list[bytes]:
    out: list[bytes] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        got = split(log.read(offset, 10**6))
        assert got, f"nothing served at {offset} below the end {log.log_end_offset}"
        out += got
        offset = parse_header(got[-1]).last_offset + 1
    return out


def _check_repair(directory: Path, clock: ManualClock, stored: list[bytes]) -> int | None:
    """Scrub, cut at the damage, and check the log holds exactly the batches before it."""
    log = Log.open(directory, SMALL, clock, clean_shutdown=True)
    try:
        damaged = find_damage(log)
        if damaged is not None:
            log.truncate_to(damaged)
            assert log.log_end_offset == damaged
        kept = [b for b in stored if parse_header(b).last_offset < log.log_end_offset]
        assert [_masked(b) for b in _readable(log)] == [_masked(b) for b in kept]
        assert find_damage(log) is None
        log.append(make_batch(1), 4)  # and it takes the leader's batches again
        return damaged
    finally:
        log.close()


def test_a_flipped_length_in_a_sealed_segment_is_cut_at_its_batch(
    tmp_path: Path, clock: ManualClock
) -> None:
    stored = _sealed_log(tmp_path / "t-0", clock)
    first = tmp_path / "t-0" / f"{0:020d}.log"
    _flip(first, 2 * _SIZE + _LENGTH_BYTE, 0x40)  # batch 2 (offsets 4..5) now runs 4 MiB long
    assert _check_repair(tmp_path / "t-0", clock, stored) == 4


def test_a_flipped_length_at_an_index_entry_is_cut_there(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The walk starts at the damaged batch itself when an index entry points at it."""
    stored = _sealed_log(tmp_path / "t-0", clock)
    first = tmp_path / "t-0" / f"{0:020d}.log"
    index = first.with_suffix(".index").read_bytes()
    entries = [struct.unpack_from(">II", index, i) for i in range(0, len(index), 8)]
    relative, position = next((r, p) for r, p in entries if p > 0)
    _flip(first, position + _LENGTH_BYTE, 0x40)
    assert _check_repair(tmp_path / "t-0", clock, stored) == relative


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_whatever_bit_flips_in_a_sealed_segment_the_log_is_cut_before_it(
    tmp_path: Path, clock: ManualClock, data: st.DataObject
) -> None:
    origin = tmp_path / "origin" / "t-0"
    if not origin.exists():
        _sealed_log(origin, clock)
    stored = [b for path in sorted(origin.glob("*.log")) for b in split(path.read_bytes())]
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        directory = Path(scratch) / "t-0"
        shutil.copytree(origin, directory)
        sealed = sorted(directory.glob("*.log"))[:-1]
        victim = sealed[data.draw(st.integers(0, len(sealed) - 1), label="segment")]
        position = data.draw(st.integers(0, victim.stat().st_size - 1), label="byte")
        _flip(victim, position, 1 << data.draw(st.integers(0, 7), label="bit"))
        damaged = _check_repair(directory, clock, stored)
    # Only the leader epoch may flip unseen (it lies outside the CRC, and a raised one is
    # as valid as any); any other flip is found, at the batch holding the byte (200 bytes
    # and two offsets each) or before it.
    holder = int(victim.stem) + 2 * (position // _SIZE)
    if _EPOCH.start <= position % _SIZE < _EPOCH.stop:
        assert damaged is None or damaged <= holder
    else:
        assert damaged is not None and damaged <= holder, (damaged, holder)
