"""The long fault run of ``make soak`` (>= 100 faults by default, longer faults than the
short run's: some outlast the producers' delivery timeout, so outcomes go unknown).

``LOGD_SOAK_FAULTS=500 make soak`` for more; the seed is ``--seed-start``
(``make soak SEED_START=7``). The checker's summary is printed (``-s``) and at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fault.conftest import fault_nodes, soak_faults
from tests.fault.harness import RunConfig, run


@pytest.mark.soak
@pytest.mark.fault
# No pytest-timeout: a fault takes seconds and a soak has hundreds; the harness bounds every
# wait by its own deadline (settling, workers stopping), so nothing here waits forever.
@pytest.mark.timeout(0)
def test_a_long_fault_run_loses_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    faults = soak_faults(request.config)
    config = RunConfig(
        nodes=fault_nodes(request.config),
        faults=faults,
        seed=request.config.getoption("--seed-start"),
        hold=(20, 5_000),
    )
    result = run(tmp_path / "run", config)
    print(result.summary())
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    assert len(result.faults) == faults


@pytest.mark.soak
@pytest.mark.fault
@pytest.mark.timeout(0)  # as above: every wait of the harness has its own deadline
def test_a_fault_run_beside_thousands_of_quiet_partitions_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Issue 21: 3,000 idle partitions at RF=3 (``LOGD_IDLE_PARTITIONS``) beside the
    workload; kills, pauses and network partitions. Their groups go quiet between faults;
    after each fault every one of them must be led and in sync again within the settle
    deadline (quiet followers notice a dead leader only through lost connections and the
    controller's liveness), and the workload's history must hold no anomaly."""
    idle = int(os.environ.get("LOGD_IDLE_PARTITIONS", "3000"))
    config = RunConfig(
        nodes=3,
        faults=min(soak_faults(request.config), 30),
        seed=request.config.getoption("--seed-start"),
        kinds=("kill", "pause", "partition"),
        settle_timeout_s=180.0,
        idle_partitions=idle,
    )
    result = run(tmp_path / "run", config)
    print(result.summary())
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    assert len(result.faults) == config.faults
