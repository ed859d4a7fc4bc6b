"""The short fault run of ``make test``: real brokers, faults, and a history that the
checker finds nothing wrong with.

Today one broker suffers SIGKILL + restart and SIGSTOP/SIGCONT; with ``--fault-nodes 3``
(once replication is on main) three brokers suffer those and network partitions too. The
checker's summary is printed at the end of the session (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.conftest import fault_nodes, fault_seed
from tests.fault.harness import RunConfig, run

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def test_a_short_fault_run_loses_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    config = RunConfig(
        nodes=fault_nodes(request.config), faults=20, seed=fault_seed(request.config, 1)
    )
    result = run(tmp_path / "run", config)
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    s = result.check.stats
    # The run did what it is for: values acknowledged across the faults, refused canaries
    # (so aborted reads were looked for), consumers that read, committed and rebalanced.
    assert s["produce_ok"] >= 2_000, result.summary()
    assert s["produce_failed"] >= 10, result.summary()
    assert s["polled"] >= 1_000 and s["commit_ok"] >= 10, result.summary()
    assert s["sessions"] > 2 * config.workload.partitions // config.workload.consumers
    assert len(result.faults) == 20
    # The compacted topic was cleaned during the run (values gone from some final read).
    assert s["compacted_cleaned"] > 0, result.summary()
    # Idempotence is on by default (issue 7): a duplicate is an anomaly, not a retry's echo.
    assert result.idempotent
