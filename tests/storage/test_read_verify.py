"""The read path never serves a damaged batch (``logd.storage.verify``, ``Segment.read``).

Recovery re-scans only from the recovery point, and a clean shutdown trusts every file, so
a bit flipped in a sealed segment while the broker is down is only found when it is read.
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
from logd.errors import KafkaStorageError
from logd.records.header import parse_header
from logd.storage import Log
from logd.storage.verify import Tail, check_successor, verify_batches
from tests.storage.batches import make_batch, stamped
from tests.storage.test_log import SMALL, fill, split

_EPOCH_FIELD = slice(12, 16)


def run(count: int = 4, *, epochs: tuple[int, ...] = ()) -> tuple[bytes, list[bytes]]:
    """``count`` stamped batches back to back from offset 10, two records each."""
    batches = [
        bytes(stamped(make_batch(2, 120, seed=i), 10 + 2 * i, epochs[i] if epochs else 1))
        for i in range(count)
    ]
    return b"".join(batches), batches


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    buf = bytearray(data)
    buf[position] ^= mask
    return bytes(buf)


# -- the pure check ---------------------------------------------------------------------------


def test_a_valid_run_verifies_to_its_tail() -> None:
    data, _ = run(4, epochs=(1, 1, 2, 3))
    assert verify_batches(data, Tail(0, 9, -1)) == (Tail(len(data), 17, 3), "")
    # A run can continue from a mark in the middle of a segment.
    assert verify_batches(data, Tail(500, 9, 1)) == (Tail(500 + len(data), 17, 3), "")


@pytest.mark.parametrize(
    ("position", "mask", "stop", "reason"),
    [
        (120 + 30, 0x01, 120, "CRC-32C mismatch"),  # a record byte of the second batch
        (120 + 20, 0x01, 120, "CRC-32C mismatch"),  # the second batch's CRC itself
        (120 + 16, 0x01, 120, "batch header does not fit"),  # its magic
        (120 + 9, 0x40, 120, "batch header does not fit"),  # its length: past the data
        (120 + 7, 0x04, 120, "base offset 8 does not rise above 11"),  # base 12 -> 8
        # Base 12 -> 13 still rises: the third batch (14) no longer does.
        (120 + 7, 0x01, 240, "base offset 14 does not rise above 14"),
    ],
)
def test_damage_stops_the_run_at_the_damaged_batch(
    position: int, mask: int, stop: int, reason: str
) -> None:
    data, _ = run(4)
    tail, why = verify_batches(flip(data, position, mask), Tail(0, 9, -1))
    assert (tail.position, why) == (stop, reason)


def test_offsets_outside_the_crc_must_rise_and_epochs_must_not_fall() -> None:
    data, _ = run(3, epochs=(2, 2, 3))
    lowered = bytearray(data)
    struct.pack_into(">q", lowered, 240, 11)  # the third batch claims offset 11 again
    assert (
        verify_batches(bytes(lowered), Tail(0, 9, -1))[1] == "base offset 11 does not rise above 13"
    )
    fallen = bytearray(data)
    struct.pack_into(">i", fallen, 120 + 12, 1)  # the second batch's epoch falls to 1
    assert verify_batches(bytes(fallen), Tail(0, 9, -1))[1] == "leader epoch 1 falls below 2"
    # The first batch continues from the mark given.
    assert verify_batches(data, Tail(0, 10, -1))[1] == "base offset 10 does not rise above 10"


def test_a_torn_run_is_damage() -> None:
    data, _ = run(2)
    assert verify_batches(data[:-1], Tail(0, 9, -1)) == (
        Tail(120, 11, 1),
        "batch header does not fit",
    )
    assert verify_batches(data[:150], Tail(0, 9, -1)) == (
        Tail(120, 11, 1),
        "truncated batch header",
    )


def test_the_successor_must_continue_the_run() -> None:
    _, batches = run(3, epochs=(1, 2, 2))
    tail = Tail(240, 13, 2)
    assert check_successor(tail, batches[2][:17]) == ""
    assert "does not rise" in check_successor(Tail(240, 14, 2), batches[2][:17])
    assert "falls below 3" in check_successor(Tail(240, 13, 3), batches[2][:17])
    assert "magic 3" in check_successor(tail, flip(batches[2][:17], 16))
    assert "truncated" in check_successor(tail, batches[2][:5])


# -- a log with damaged sealed segments ------------------------------------------------------


def _log_with_sealed_segments(
    directory: Path, clock: ManualClock, records: list[int] | None = None
) -> list[bytes]:
    """30 batches of 200 bytes in three epochs over at least four segments; batch ``i``
    holds ``records[i]`` records (2 each by default)."""
    log = Log.open(directory, SMALL, clock)
    stored = []
    for i in range(30):
        batch = make_batch(records[i] if records else 2, 200, seed=i)
        log.append(batch, 1 + i // 10)
        stored.append(bytes(batch))
    log.close()
    assert len(log.segment_base_offsets()) >= 4
    return stored


def _masked(batch: bytes) -> bytes:
    return batch[: _EPOCH_FIELD.start] + batch[_EPOCH_FIELD.stop :]


def test_a_flipped_bit_in_a_sealed_segment_is_refused_on_read_and_the_rest_is_served(
    tmp_path: Path, clock: ManualClock
) -> None:
    stored = _log_with_sealed_segments(tmp_path / "t-0", clock)
    second = tmp_path / "t-0" / f"{0:020d}.log"
    second.write_bytes(flip(second.read_bytes(), 200 + 100))  # inside the second batch
    log = Log.open(tmp_path / "t-0", SMALL, clock, clean_shutdown=True)
    assert log.read(0, 1) == stored[0]  # before the damage: served
    with pytest.raises(KafkaStorageError, match=r"damaged at byte 200: CRC-32C mismatch"):
        log.read(0, 10**6)
    with pytest.raises(KafkaStorageError, match="CRC-32C mismatch"):
        log.read(2, 1)  # the damaged batch on its own
    assert split(log.read(4, 10**6))[0] == stored[2]  # after it: served
    log.append(make_batch(1), 3)  # the log stays writable
    assert log.offline_reason is None
    log.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_single_bit_flip_in_a_sealed_segment_is_ever_served(
    tmp_path: Path, clock: ManualClock, data: st.DataObject
) -> None:
    """Whatever bit flips, every read either fails with KafkaStorageError or serves the
    batches exactly as they were stored (up to the leader epoch, which no consumer sees
    and which is only checked where it makes epochs fall)."""
    origin = tmp_path / "origin" / "t-0"
    if not origin.exists():  # record counts from 1 to 8, so a flipped base offset can
        # still overlap the offsets asked for (what locate's rising check is for)
        _log_with_sealed_segments(origin, clock, [1 + (i * 5) % 8 for i in range(30)])
    stored = _stored(origin)
    by_offset = {parse_header(b).base_offset: b for b in stored}
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        directory = Path(scratch) / "t-0"
        shutil.copytree(origin, directory)
        sealed = sorted(directory.glob("*.log"))[:-1]
        victim = sealed[data.draw(st.integers(0, len(sealed) - 1), label="segment")]
        content = victim.read_bytes()
        position = data.draw(st.integers(0, len(content) - 1), label="byte")
        victim.write_bytes(flip(content, position, 1 << data.draw(st.integers(0, 7), label="bit")))
        log = Log.open(directory, SMALL, clock, clean_shutdown=True)
        try:
            for offset in by_offset:
                for max_bytes in (1, 10**6):
                    try:
                        served = split(log.read(offset, max_bytes))
                    except KafkaStorageError:
                        continue
                    for batch in served:
                        original = by_offset.get(parse_header(batch).base_offset)
                        assert original is not None and _masked(batch) == _masked(original)
        finally:
            log.close()


def _base_offset_field(path: Path, batch: int) -> int:
    """The byte position of the base offset's last byte of batch ``batch`` (200 B each)."""
    assert path.stat().st_size >= (batch + 1) * 200
    return batch * 200 + 7


def test_a_raised_base_offset_in_a_segment_s_last_batch_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    stored = _log_with_sealed_segments(tmp_path / "t-0", clock, [5] * 30)
    first = tmp_path / "t-0" / f"{0:020d}.log"
    last = first.stat().st_size // 200 - 1  # the segment's last batch, offsets 5*last..
    assert 5 * last % 2 == 0  # so flipping bit 0 raises its base by one
    first.write_bytes(flip(first.read_bytes(), _base_offset_field(first, last), 0x01))
    log = Log.open(tmp_path / "t-0", SMALL, clock, clean_shutdown=True)
    # Read with the batch before it: offsets still rise between the two, but the last one
    # now runs into the next segment's base.
    with pytest.raises(KafkaStorageError, match=r"reaches the next segment \(35\)"):
        log.read(5 * (last - 1), 10**6)
    with pytest.raises(KafkaStorageError):  # read alone: its index entry disagrees
        log.read(5 * last, 1)
    assert log.read(0, 1) == stored[0]
    log.close()


def test_a_lowered_base_offset_is_refused_even_when_its_batch_is_read_alone(
    tmp_path: Path, clock: ManualClock
) -> None:
    _log_with_sealed_segments(tmp_path / "t-0", clock, [5] * 30)
    first = tmp_path / "t-0" / f"{0:020d}.log"
    # Batch 1 holds 5..9; base 5 -> 4 overlaps batch 0 (0..4) yet still covers offset 5.
    first.write_bytes(flip(first.read_bytes(), _base_offset_field(first, 1), 0x01))
    log = Log.open(tmp_path / "t-0", SMALL, clock, clean_shutdown=True)
    with pytest.raises(KafkaStorageError, match="base offset 4 does not follow 4"):
        log.read(5, 1)
    log.close()


def _stored(directory: Path) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(directory.glob("*.log")):
        out += split(path.read_bytes())
    return out


def test_what_the_process_appended_or_recovered_is_not_checked_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The known-good mark: appended batches were checked on append, so a damage made
    afterwards behind the log's back (not a realistic fault while it runs) is not looked
    for again -- the check costs one pass per batch per process, not one per read."""
    log = Log.open(tmp_path / "t-0", SMALL, clock)
    stored = fill(log, 3)
    path = tmp_path / "t-0" / f"{0:020d}.log"
    path.write_bytes(flip(path.read_bytes(), 100))
    assert log.read(0, 1) != stored[0]  # served: it was checked when it was appended
    log.close()
    again = Log.open(tmp_path / "t-0", SMALL, clock, clean_shutdown=True)
    with pytest.raises(KafkaStorageError):  # a new process checks it before serving it
        again.read(0, 1)
    again.close()
