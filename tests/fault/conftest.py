"""Options of the fault suite, and what is switched on today.

* ``--fault-nodes N`` / ``LOGD_FAULT_NODES`` -- brokers in the fault runs. 1 until
  replication (issue 5) is on main; with 3 or more, ``test_cluster_faults.py`` (the runs
  with network partitions, and the repair of a damaged replica from its leader) is
  collected too (the default now that the cluster is on main).
* ``--fault-seed S`` / ``LOGD_FAULT_SEED`` -- the nemesis seed of the short run (a failed
  run prints its seed and schedule: replay it with this).
* ``--soak-faults N`` / ``LOGD_SOAK_FAULTS`` -- faults in the soak run (default 100); the
  soak's seed is the root ``--seed-start``.

pytest reads options of this file only when ``tests/fault`` is named on the command line
(``make soak ARGS="tests/fault --soak-faults=500"``); the environment variables work
everywhere (``LOGD_SOAK_FAULTS=500 make soak``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["DEFAULT_NODES", "fault_nodes", "fault_seed", "soak_faults"]

#: Brokers in the fault runs (3: replication, issue 5, is on main).
DEFAULT_NODES = 3
_CLUSTER_ONLY = "test_cluster_faults.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("logd fault suite")
    group.addoption("--fault-nodes", type=int, default=None, help="brokers in the fault runs")
    group.addoption("--fault-seed", type=int, default=None, help="nemesis seed of the short run")
    group.addoption("--soak-faults", type=int, default=None, help="faults in the soak run")


def _setting(config: pytest.Config, option: str, env: str, default: int) -> int:
    value = config.getoption(option, default=None)
    if value is None:
        value = os.environ.get(env)
    return default if value is None else int(value)


def fault_nodes(config: pytest.Config) -> int:
    return _setting(config, "--fault-nodes", "LOGD_FAULT_NODES", DEFAULT_NODES)


def fault_seed(config: pytest.Config, default: int) -> int:
    return _setting(config, "--fault-seed", "LOGD_FAULT_SEED", default)


def soak_faults(config: pytest.Config) -> int:
    return _setting(config, "--soak-faults", "LOGD_SOAK_FAULTS", 100)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The cluster-only module is not collected (not skipped) below 3 nodes."""
    if collection_path.name == _CLUSTER_ONLY and fault_nodes(config) < 3:
        return True
    return None
