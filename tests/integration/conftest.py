"""Fixtures that start real broker processes (see ``cluster.py``).

* ``broker``: a fresh broker with its own data directory, for one test;
* ``shared_broker``: one broker for a whole test module (tests use their own topic names);
* ``broker_factory``: brokers with extra flags or a config file, several if needed;
* ``topic``: a topic name unique to the test.

At teardown every broker still running is stopped with SIGTERM and must exit 0 (a clean
shutdown is part of every test); when the test failed, the brokers' stderr is printed so it
appears in pytest's report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import BrokerProcess, Cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


def _finish(brokers: list[BrokerProcess], failed: bool) -> None:
    problems = []
    try:
        for b in brokers:
            if b.running:
                code = b.stop()
                if code != 0:
                    problems.append(f"broker {b.node_id} exited {code} on SIGTERM{b._tail()}")
            if failed:
                print(b._tail())
    finally:
        for b in brokers:
            b.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def broker_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrokerProcess]]:
    made: list[BrokerProcess] = []

    def make(name: str = "broker", *, start: bool = True, **kwargs: Any) -> BrokerProcess:
        b = BrokerProcess(tmp_path / name, **kwargs)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    _finish(made, _failed(request))


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerProcess]) -> BrokerProcess:
    return broker_factory()


@pytest.fixture(scope="module")
def shared_broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "broker")
    b.start()
    yield b
    _finish([b], failed=request.session.testsfailed > 0)


@pytest.fixture
def cluster_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(size: int = 1, **kwargs: Any) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster-{len(made)}", size, **kwargs)
        made.append(cluster)
        cluster.start()
        return cluster

    yield make
    _finish([b for c in made for b in c], _failed(request))


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A valid topic name derived from the test's name (unique within a module)."""
    name = re.sub(r"[^a-zA-Z0-9._-]", "_", request.node.name)
    return name[:200]
