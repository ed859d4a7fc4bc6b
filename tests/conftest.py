"""Shared pytest options. Helpers that tests import live in ``tests/helpers.py``."""

from __future__ import annotations

import pytest
from hypothesis import settings

# Hypothesis' per-example deadline (200 ms) measures the machine, not the code: on two
# loaded cores a pure decoder's example took 543 ms and failed. Properties that are about
# time say so with their own explicit checks; none relies on this deadline.
settings.register_profile("logd", deadline=None)
settings.load_profile("logd")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("logd")
    group.addoption("--seeds", type=int, default=None, help="simulator seeds to run (soak)")
    group.addoption("--seed-start", type=int, default=0, help="first simulator seed (soak)")


# -- summaries: a test attaches ("summary", text) to its user_properties (the fault suite's
# checker does) and it is printed after the run, with or without xdist (the properties
# travel with the report from the worker).

_SUMMARIES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _SUMMARIES.extend(
            (report.nodeid, str(v)) for k, v in report.user_properties if k == "summary"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for nodeid, text in _SUMMARIES:
        terminalreporter.write_sep("-", f"summary of {nodeid}")
        terminalreporter.write_line(text)
