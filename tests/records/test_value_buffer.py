"""``build_value_buffer``: the producer's value batches, joined once (issue 22, 1 MiB batches).

The same bytes as ``BatchBuilder`` for every option and codec; uncompressed, the records
are copied once -- header placeholders and records joined into one bytearray, length and
CRC stamped in place -- where joining the records and then the header with them took two.
"""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.records import (
    BatchBuilder,
    Compression,
    build_value_batch,
    build_value_buffer,
    decode_batch,
)
from tests.records.strategies import CODECS, nullable_bytes

T0 = 1_700_000_000_000


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(nullable_bytes, max_size=20),
    codec=st.sampled_from(CODECS),
    producer=st.sampled_from([(-1, -1, -1), (7, 2, 40)]),
    base_offset=st.integers(0, 2**40),
)
def test_the_bytes_are_the_builders(
    values: list[bytes | None], codec: int, producer: tuple[int, int, int], base_offset: int
) -> None:
    pid, epoch, seq = producer
    options = {"compression": codec, "base_offset": base_offset, "producer_id": pid,
               "producer_epoch": epoch, "base_sequence": seq}  # fmt: skip
    builder = BatchBuilder(**options)  # type: ignore[arg-type]
    for value in values:
        builder.append(T0, None, value)
    expected = builder.build()
    buffer = build_value_buffer(values, T0, **options)  # type: ignore[arg-type]
    assert buffer == expected
    assert build_value_batch(values, T0, **options) == expected  # type: ignore[arg-type]


def test_uncompressed_it_is_one_copy_of_the_records() -> None:
    values = [bytes(64 << 10)] * 64  # 4 MiB of records in few parts (join has per-part costs)
    tracemalloc.start()
    try:
        buffer = build_value_buffer(values, T0, compression=Compression.NONE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = len(buffer)
    assert isinstance(buffer, bytearray) and size > 4 << 20
    # One batch-sized allocation (plus the parts list); joining twice peaked at two.
    assert peak < size * 1.2, f"peak {peak} bytes for a {size}-byte batch"
    assert [r.value for r in decode_batch(bytes(buffer))][-1] == bytes(64 << 10)
