"""The long fault run of ``make soak`` (>= 100 faults by default, longer faults than the
short run's: some outlast the producers' delivery timeout, so outcomes go unknown).

``LOGD_SOAK_FAULTS=500 make soak`` for more; the seed is ``--seed-start``
(``make soak SEED_START=7``). The checker's summary is printed (``-s``) and at the end.
"""

from __future__ import annotations

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
