"""The cluster's dynamic configs (issue 23), the broker side: which keys, the checks a value
passes before it is written, the value a broker applies (the cluster's, else its own)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from logd.broker.api import BrokerMeta
from logd.broker.cluster_configs import ClusterConfigs
from logd.broker.config import BrokerConfig
from logd.broker.metadata_file import FileMetadataStore
from logd.errors import InvalidConfigError, InvalidRequestError
from logd.metadata.cluster_config import AUTOBALANCE, MOVE_THROTTLE, autobalance, move_throttle


def _configs(tmp_path: Path, config: BrokerConfig) -> ClusterConfigs:
    store = FileMetadataStore(tmp_path, BrokerMeta(0, "127.0.0.1", 7070))
    store.load()
    return ClusterConfigs(store, config)


def test_the_cluster_value_wins_over_the_brokers_own() -> None:
    assert move_throttle({}, 30) == 30
    assert move_throttle({MOVE_THROTTLE: "0"}, 30) == 0  # 0: no throttle, set on purpose
    assert move_throttle({MOVE_THROTTLE: "1000"}, 30) == 1000
    assert autobalance({}, True) is True
    assert autobalance({AUTOBALANCE: "false"}, True) is False
    # Text a check would have refused (never written by a broker) leaves the broker's own.
    assert move_throttle({MOVE_THROTTLE: "-5"}, 30) == 30
    assert move_throttle({MOVE_THROTTLE: "10MB"}, 30) == 30
    assert autobalance({AUTOBALANCE: "yes"}, False) is False


def test_describe_says_where_each_value_comes_from(tmp_path: Path) -> None:
    own = BrokerConfig(partition_move_throttle=5_000_000)
    described = {c.name: c for c in _configs(tmp_path, own).describe()}
    assert set(described) == {MOVE_THROTTLE, AUTOBALANCE}
    assert (described[MOVE_THROTTLE].value, described[MOVE_THROTTLE].source) == (
        "5000000",
        "static",
    )
    assert (described[AUTOBALANCE].value, described[AUTOBALANCE].source) == ("false", "default")


@pytest.mark.parametrize(
    ("configs", "delete", "error", "says"),
    [
        ({"retention.ms": "1"}, [], InvalidConfigError, "not a dynamic cluster config"),
        ({"raft.tick.ms": "5"}, [], InvalidConfigError, "each broker's config"),
        ({MOVE_THROTTLE: "-1"}, [], InvalidConfigError, "out of range"),
        ({MOVE_THROTTLE: "fast"}, [], InvalidConfigError, "expected an integer"),
        ({MOVE_THROTTLE: "9" * 5000}, [], InvalidConfigError, "at most"),
        ({AUTOBALANCE: "maybe"}, [], InvalidConfigError, "true or false"),
        ({}, ["nope"], InvalidConfigError, "not a dynamic cluster config"),
        ({MOVE_THROTTLE: "1"}, [MOVE_THROTTLE], InvalidRequestError, "both set and deleted"),
    ],
)
def test_a_bad_change_is_refused_whole_naming_the_key(
    tmp_path: Path,
    configs: dict[str, str],
    delete: list[str],
    error: type[Exception],
    says: str,
) -> None:
    with pytest.raises(error, match=says):
        asyncio.run(_configs(tmp_path, BrokerConfig()).alter(configs, delete, validate_only=True))


def test_a_good_change_validates_and_a_single_broker_refuses_to_write_it(tmp_path: Path) -> None:
    configs = _configs(tmp_path, BrokerConfig())
    change = {MOVE_THROTTLE: " 1000 ", AUTOBALANCE: "TRUE"}
    asyncio.run(configs.alter(change, [], validate_only=True))
    with pytest.raises(InvalidRequestError, match="single broker"):
        asyncio.run(configs.alter(change, []))
    assert configs.move_throttle() == BrokerConfig().partition_move_throttle
