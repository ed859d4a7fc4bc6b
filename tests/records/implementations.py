"""The record decoder's implementations, as a fixture: every test that uses it runs once with
the pure-Python path and once with the C accelerator (when it is built), as issue 8 asks of
a compiled accelerator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from logd.records import accel

__all__ = ["records_impl"]


@pytest.fixture(params=sorted(accel.IMPLEMENTATIONS))
def records_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Decode with one implementation for the test's duration; its name."""
    before = accel.implementation()
    accel.use(request.param)
    try:
        yield request.param
    finally:
        accel.use(before)
