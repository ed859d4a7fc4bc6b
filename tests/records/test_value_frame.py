"""``build_value_frame``: an uncompressed value batch written straight into its request's
frame (issue 22, 1 MiB batches), by both implementations (``accel``: C and pure Python).

The frame is exactly ``prefix_for(size) + build_value_buffer(...)``; in C the values are
copied once, into the one ``bytes`` object gRPC is given, where the buffer and the
request's join took two copies and a Python loop per record.
"""

from __future__ import annotations

import tracemalloc

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.records import accel, build_value_buffer, build_value_frame, decode_batch
from tests.records.strategies import nullable_bytes

T0 = 1_700_000_000_000


def _prefix(size: int) -> bytes:
    return b"head:" + size.to_bytes(4, "big")


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(nullable_bytes, min_size=1, max_size=20),
    producer=st.sampled_from([(-1, -1, -1), (7, 2, 40)]),
    timestamp=st.sampled_from([0, T0, 2**62]),
)
def test_the_frame_is_the_prefix_then_the_buffer(
    values: list[bytes | None], producer: tuple[int, int, int], timestamp: int
) -> None:
    pid, epoch, seq = producer
    ids = {"producer_id": pid, "producer_epoch": epoch, "base_sequence": seq}
    expected = bytes(build_value_buffer(values, timestamp, **ids))  # type: ignore[arg-type]
    frame, at = build_value_frame(_prefix, values, timestamp, **ids)  # type: ignore[arg-type]
    assert isinstance(frame, bytes)
    assert frame[:at] == _prefix(len(expected)) and frame[at:] == expected


def test_long_batches_and_long_values_take_longer_varints() -> None:
    """Offset deltas past 63 and 8191 (2- and 3-byte varints), values past 16 KiB (beyond
    the small-varint table) and null values among them."""
    values: list[bytes | None] = [bytes([i % 251]) * (i % 7) for i in range(20_000)]
    values[5] = None
    values[9_000] = b"v" * 70_000
    expected = bytes(build_value_buffer(values, T0))
    frame, at = build_value_frame(_prefix, values, T0)
    assert frame[at:] == expected
    assert [r.value for r in decode_batch(frame[at:])] == values


def test_bad_input_is_a_type_error_and_no_values_a_value_error() -> None:
    with pytest.raises(TypeError):
        build_value_frame(_prefix, [b"a", "not bytes"], T0)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        build_value_frame(lambda size: "not bytes", [b"a"], T0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="at least one record"):
        build_value_frame(_prefix, [], T0)


def test_the_c_frame_copies_the_values_once() -> None:
    """4 MiB of values become one frame-sized allocation (the build and the request's join
    took two); `make dev` builds the accelerator (tests/records/test_record.py checks)."""
    frame_of = accel.FRAMES["c"]
    values: list[bytes | None] = [bytes(64 << 10)] * 64
    header = bytes(build_value_buffer([b""], T0))[:61]
    tracemalloc.start()
    try:
        frame, _ = frame_of(_prefix, header, values, crc32c.crc32c)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) > 4 << 20
    assert peak < len(frame) + (64 << 10), f"peak {peak} bytes for a {len(frame)}-byte frame"


def test_the_c_frame_refuses_a_crc_that_keeps_its_unfinished_view() -> None:
    kept: list[memoryview] = []

    def crc(view: memoryview) -> int:
        kept.append(view)
        return 0

    header = bytes(build_value_buffer([b""], T0))[:61]
    with pytest.raises(RuntimeError, match="kept the view"):
        accel.FRAMES["c"](_prefix, header, [b"abc"], crc)


@pytest.mark.parametrize("impl", sorted(accel.FRAMES))
def test_values_changed_while_the_prefix_is_made_do_not_change_the_frame(impl: str) -> None:
    # The C frame is sized before prefix_for runs (Python code) and filled after it: it
    # must fill it from the values it sized, not from a list changed meanwhile (it wrote
    # 5,000-byte values into room sized for 10-byte ones: past the frame's end).
    values: list[bytes | None] = [b"v" * 10] * 50
    original = list(values)

    def prefix_for(size: int) -> bytes:
        values[:] = [b"z" * 5000] * len(values)  # same length: the list's array is reused
        return _prefix(size)

    header = bytes(build_value_buffer([b""], T0))[:61]
    frame, at = accel.FRAMES[impl](prefix_for, header, values, crc32c.crc32c)
    expected, _ = accel.FRAMES["python"](_prefix, header, original, crc32c.crc32c)
    assert frame[at:] == expected[at:]
