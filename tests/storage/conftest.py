"""Fixtures for storage tests: a manual clock and a small-segment config."""

from __future__ import annotations

import pytest

from logd.clock import ManualClock
from tests.storage.batches import BASE_TS


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(BASE_TS)
