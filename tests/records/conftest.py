"""Every codec test runs with each implementation of the record decoder (see implementations)."""

from __future__ import annotations

import pytest

from tests.records.implementations import records_impl

__all__ = ["every_implementation", "records_impl"]


@pytest.fixture(autouse=True)
def every_implementation(records_impl: str) -> str:
    return records_impl
