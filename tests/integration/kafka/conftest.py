"""A real broker with its Kafka listener for the Kafka tests (one per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import BrokerProcess
from tests.integration.conftest import _finish


def start_kafka_broker(data_dir: Path, config: str = "") -> BrokerProcess:
    config_file = None
    if config:
        config_file = data_dir.parent / f"{data_dir.name}.toml"
        config_file.write_text(config)
    broker = BrokerProcess(data_dir, config_file=config_file)
    broker.start()
    return broker


def bootstrap(broker: BrokerProcess) -> str:
    """The broker's Kafka listener, as it bound it."""
    return broker.bound()["kafka"]


@pytest.fixture(scope="module")
def kafka_broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    broker = start_kafka_broker(tmp_path_factory.mktemp("kafka") / "broker")
    yield broker
    _finish([broker], failed=request.session.testsfailed > 0)


@pytest.fixture(scope="module")
def kafka(kafka_broker: BrokerProcess) -> str:
    return bootstrap(kafka_broker)
