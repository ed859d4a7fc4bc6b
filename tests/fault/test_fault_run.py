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
from tests.fault.history import Kind, Outcome
from tests.fault.workload import WorkloadConfig

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


def test_kafka_clients_through_leader_kills_every_acked_record_once_in_order(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Issue 14: on three brokers, SIGKILL the leader of a partition under confluent-kafka's
    idempotent acks=all producers and a librdkafka consumer group (through the Kafka
    listener): the checker finds nothing lost or duplicated, and each producer's
    acknowledged values of a partition sit at rising offsets."""
    config = RunConfig(
        nodes=3,
        faults=5,
        kinds=("kill-leader",),
        seed=fault_seed(request.config, 3),
        hold=(200, 800),
        workload=WorkloadConfig(client="kafka"),
    )
    result = run(tmp_path / "run", config)
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    s = result.check.stats
    assert result.idempotent and s["produce_ok"] >= 1_000, result.summary()
    assert s["polled"] >= 500 and s["commit_ok"] >= 5, result.summary()
    assert result.outcomes.get("kill-leader leader", 0) >= 4, result.outcomes
    acked: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
    for op in result.history:
        if op.kind is Kind.PRODUCE and op.outcome is Outcome.OK and op.offset >= 0:
            acked.setdefault((op.process, op.topic, op.partition), []).append(
                (op.invoke, op.offset)
            )
    for key, sent in acked.items():
        offsets = [offset for _, offset in sorted(sent)]
        assert offsets == sorted(set(offsets)), f"{key}: acknowledged out of order"
