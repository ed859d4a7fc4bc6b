"""Shared pytest options. Helpers that tests import live in ``tests/helpers.py``."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("logd")
    group.addoption("--seeds", type=int, default=None, help="simulator seeds to run (soak)")
    group.addoption("--seed-start", type=int, default=0, help="first simulator seed (soak)")
