"""Hypothesis strategies and settings shared by the record-codec tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from logd.records import Compression, available_codecs

__all__ = ["CODECS", "DETERMINISTIC", "batch_records", "headers", "nullable_bytes"]

#: Every codec this process can write and read (zstd when ``zstandard`` is installed).
CODECS = sorted(available_codecs())

#: Derandomized: the same examples on every run and every machine (STYLE.md 13).
DETERMINISTIC = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

nullable_bytes = st.none() | st.binary(max_size=300)
headers = st.lists(st.tuples(st.text(max_size=20), nullable_bytes), max_size=4).map(tuple)

#: (timestamp, key, value, headers) tuples as a producer would append them.
batch_records = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**63 - 1)
        | st.integers(min_value=1_700_000_000_000, max_value=1_700_000_100_000),
        nullable_bytes,
        nullable_bytes,
        headers,
    ),
    min_size=1,
    max_size=40,
)

assert Compression.NONE in CODECS
