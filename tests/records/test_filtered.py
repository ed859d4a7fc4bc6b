"""The filtering decoder: the same records as the plain one minus the dropped, whose values
are never copied, and the same errors for damage."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import CorruptRecordError
from logd.records import BatchBuilder, Record, decode_batch
from logd.records.filtered import filtered_records
from tests.records.strategies import CODECS, DETERMINISTIC, batch_records


def _build(records: list[tuple[int, bytes | None, bytes | None, tuple]], codec: int) -> bytes:  # type: ignore[type-arg]
    builder = BatchBuilder(compression=codec, base_offset=100)
    for ts, key, value, hdrs in records:
        builder.append(ts, key, value, hdrs)
    return builder.build()


def _filtered(batch: bytes, keep, min_offset: int = -1) -> list[Record]:  # type: ignore[no-untyped-def]
    decoded = decode_batch(batch)
    h = decoded.header
    return filtered_records(
        decoded.records_region, h.record_count, h.base_offset, h.base_timestamp,
        h.max_timestamp if h.log_append_time else None, keep, Record, (), min_offset,
    )  # fmt: skip


@DETERMINISTIC
@given(batch_records, st.sampled_from(CODECS), st.integers(min_value=99, max_value=150))
def test_the_same_records_as_the_plain_decoder_minus_the_dropped(
    records: list[tuple[int, bytes | None, bytes | None, tuple]],  # type: ignore[type-arg]
    codec: int,
    min_offset: int,
) -> None:
    batch = _build(records, codec)
    plain = [r for r in decode_batch(batch) if r.offset >= min_offset]
    assert _filtered(batch, lambda k, h: True, min_offset) == plain

    def keep(key: bytes | None, headers: tuple) -> bool:  # type: ignore[type-arg]
        return (key is not None and len(key) % 2 == 0) or bool(headers)

    assert _filtered(batch, keep, min_offset) == [r for r in plain if keep(r.key, r.headers)]


def test_the_filter_sees_key_and_headers_and_dropped_values_are_never_copied() -> None:
    big = b"v" * (4 << 20)
    batch = _build(
        [(1, b"drop", big, (("kind", b"noise"),)), (2, b"keep", b"small", (("kind", b"alarm"),)),
         (3, None, big, ())],
        0,
    )  # fmt: skip
    seen: list[tuple[bytes | None, tuple]] = []  # type: ignore[type-arg]

    def keep(key: bytes | None, headers: tuple) -> bool:  # type: ignore[type-arg]
        seen.append((key, headers))
        return dict(headers).get("kind") == b"alarm"

    decoded = decode_batch(batch)
    region, h = decoded.records_region, decoded.header
    tracemalloc.start()
    try:
        kept = filtered_records(region, h.record_count, h.base_offset, 0, None, keep, Record)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [(b"drop", (("kind", b"noise"),)), (b"keep", (("kind", b"alarm"),)), (None, ())]
    assert [(r.offset, r.value) for r in kept] == [(101, b"small")]
    assert peak < len(big) // 4, f"{peak} bytes allocated: a dropped value was copied"
    assert len(decoded.records_region) > 2 * len(big)


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_damage_raises_the_typed_error(cut: int) -> None:
    decoded = decode_batch(_build([(1, b"k", b"value", (("h", b"x"),))] * 3, 0))
    region = decoded.records_region
    h = decoded.header
    with pytest.raises(CorruptRecordError):
        filtered_records(region[:-cut], h.record_count, 0, 0, None, lambda k, hs: True, Record)
    with pytest.raises(CorruptRecordError):
        filtered_records(region + b"\x00", h.record_count, 0, 0, None, lambda k, hs: True, Record)
