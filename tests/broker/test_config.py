"""BrokerConfig: defaults, the TOML file, flags over the file, and one clear error a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from logd.broker.config import (
    BrokerConfig,
    FsyncPolicy,
    HostPort,
    Peer,
    load_config,
    parse_host_port,
    parse_peers,
)
from logd.errors import InvalidConfigError


def test_no_file_means_one_node_on_the_default_address() -> None:
    config = load_config()
    assert config == BrokerConfig()
    assert (config.node_id, config.data_dir, str(config.listen)) == (
        0,
        Path("logd-data"),
        "127.0.0.1:7070",
    )
    assert config.advertised == config.listen
    assert config.fsync is FsyncPolicy.ALWAYS
    assert (config.num_partitions, config.default_replication_factor) == (1, 1)
    assert config.peers == () and dict(config.topic_defaults) == {}


def test_dotted_keys_quoted_or_not_and_topic_defaults(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        "node.id = 3\n"
        'data.dir = "/srv/logd"\n'
        'listen = "0.0.0.0:9000"\n'
        '"advertised.listen" = "broker3.example:9000"\n'
        'peers = ["3@h3:9000", "4@h4:9000"]\n'
        'fsync = "Interval"\n'
        "flush.interval.ms = 250\n"
        "num.partitions = 6\n"
        "log.retention.check.interval.ms = 1000\n"
        "auto.leader.rebalance.enable = false\n"
        "[topic.defaults]\n"
        "retention.ms = 60000\n"
        '"message.timestamp.type" = "LogAppendTime"\n'
    )
    config = load_config(path)
    assert config.node_id == 3
    assert config.data_dir == Path("/srv/logd")
    assert config.listen == HostPort("0.0.0.0", 9000)
    assert str(config.advertised) == "broker3.example:9000"
    assert config.peers == (Peer(3, HostPort("h3", 9000)), Peer(4, HostPort("h4", 9000)))
    assert config.fsync is FsyncPolicy.INTERVAL and config.flush_interval_ms == 250
    assert config.num_partitions == 6
    assert config.retention_check_interval_ms == 1000
    assert config.auto_leader_rebalance_enable is False
    assert BrokerConfig().auto_leader_rebalance_enable is True  # Kafka's default
    assert dict(config.topic_defaults) == {
        "retention.ms": "60000",
        "message.timestamp.type": "LogAppendTime",
    }


def test_flags_override_the_file_and_unset_flags_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('node.id = 1\nlisten = "127.0.0.1:9001"\n')
    config = load_config(path, {"node.id": 7, "listen": None, "data.dir": "d"})
    assert (config.node_id, str(config.listen), config.data_dir) == (7, "127.0.0.1:9001", Path("d"))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"no.such.key": 1}, "no.such.key"),
        ({"node.id": -1}, "node.id"),
        ({"node.id": "seven"}, "node.id"),
        ({"node.id": True}, "node.id"),
        ({"num.partitions": 0}, "num.partitions"),
        ({"fsync": "sometimes"}, "fsync"),
        ({"fsync": 1}, "fsync"),
        ({"listen": "nohost"}, "listen"),
        ({"listen": "h:70000"}, "listen"),
        ({"listen": "h:-1"}, "listen"),
        ({"data.dir": ""}, "data.dir"),
        ({"peers": "1@h:1,1@h:2"}, "peers"),
        ({"peers": "x@h:1"}, "peers"),
        ({"peers": "1@h:1,2@h:2"}, "peers"),  # node.id 0 is not among them
        ({"max.request.bytes": 10}, "max.request.bytes"),
        ({"fetch.max.bytes": 2**30, "max.request.bytes": 2**20}, "fetch.max.bytes"),
        ({"topic.defaults.retention.ms": [1]}, "topic.defaults.retention.ms"),
        ({"auto.leader.rebalance.enable": "sometimes"}, "auto.leader.rebalance.enable"),
        ({"rack": "x" * 256}, "rack"),
        ({"rack": "a\nb"}, "rack"),
        ({"partition.move.throttle": -1}, "partition.move.throttle"),
    ],
)
def test_a_bad_value_names_its_key(values: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        load_config(None, values)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("node.id = = 1")
    with pytest.raises(InvalidConfigError, match="not valid TOML"):
        load_config(bad)


def test_addresses_and_peers_parse() -> None:
    assert parse_host_port("[::1]:7070") == HostPort("::1", 7070)
    assert str(HostPort("::1", 7070)) == "[::1]:7070"
    assert parse_peers("0@a:1, 1@b:2,") == (Peer(0, HostPort("a", 1)), Peer(1, HostPort("b", 2)))
    assert str(Peer(2, HostPort("c", 3))) == "2@c:3"


def test_fault_injection_is_refused_unless_the_broker_listens_on_loopback() -> None:
    assert load_config(overrides={"fault.injection.enable": True}).fault_injection
    with pytest.raises(InvalidConfigError, match="loopback"):
        load_config(overrides={"fault.injection.enable": True, "listen": "0.0.0.0:7070"})


def test_raft_timing_keys_are_checked() -> None:
    config = load_config(overrides={"raft.tick.ms": 20, "raft.election.ticks": 30})
    assert (config.raft_tick_ms, config.raft_election_ticks) == (20, 30)
    with pytest.raises(InvalidConfigError, match=r"raft\.heartbeat\.ticks"):
        load_config(overrides={"raft.heartbeat.ticks": 20, "raft.election.ticks": 20})


def test_raft_async_writes_is_off_unless_asked_for() -> None:
    assert not load_config().raft_async_writes
    assert load_config(overrides={"raft.async.writes": "true"}).raft_async_writes
    with pytest.raises(InvalidConfigError, match=r"raft\.async\.writes"):
        load_config(overrides={"raft.async.writes": "sometimes"})


def test_every_listener_has_its_design_default_and_can_be_turned_off() -> None:
    config = load_config()
    assert {name: str(a) for name, a in config.listeners.addresses.items()} == {
        "kafka": "127.0.0.1:9092",
        "registry": "127.0.0.1:8081",
        "http": "127.0.0.1:8082",
        "admin": "127.0.0.1:9644",
        "mqtt": "127.0.0.1:1883",
        "rpc": "127.0.0.1:33145",  # the brokers' Raft TCP port (Redpanda's rpc_server)
    }
    off = load_config(overrides={"kafka.listen": "off", "mqtt.listen": "OFF"}).listeners
    assert off.address("kafka") is None and off.address("mqtt") is None
    assert str(off.address("admin")) == "127.0.0.1:9644"


def test_listeners_take_kafkas_and_redpandas_names_and_logds_own_wins(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        'listeners = "PLAINTEXT://0.0.0.0:19092"\n'
        'advertised.listeners = "PLAINTEXT://broker1.example:19092"\n'
        "[[schema_registry.schema_registry_api]]\n"
        'address = "::1"\n'
        "port = 18081\n"
        "[redpanda]\n"
        'admin = "127.0.0.1:0"\n'
        'rpc_server = { address = "0.0.0.0", port = 33146 }\n'
    )
    listeners = load_config(path).listeners
    assert str(listeners.address("rpc")) == "0.0.0.0:33146"
    assert "rpc" not in listeners.known_before_binding(), "never advertised to clients"
    assert str(listeners.address("kafka")) == "0.0.0.0:19092"
    assert str(listeners.advertised_kafka) == "broker1.example:19092"
    assert str(listeners.address("registry")) == "[::1]:18081"
    assert str(listeners.address("admin")) == "127.0.0.1:0"
    flag_wins = load_config(path, {"kafka.listen": "127.0.0.1:29092"}).listeners
    assert str(flag_wins.address("kafka")) == "127.0.0.1:29092"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"kafka.listen": "9092"}, "kafka.listen"),
        ({"listeners": "SASL_SSL://h:1"}, "listeners"),
        ({"advertised.kafka.listener": "off"}, "advertised.kafka.listener"),
        ({"redpanda.admin": {"address": "h"}}, "redpanda.admin"),
        ({"http.listen": 8082}, "http.listen"),
    ],
)
def test_a_bad_listener_names_its_key(values: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidConfigError, match=f"^{named}: "):
        load_config(None, values)


def test_a_front_ends_own_keys_are_kept_for_it_and_unknown_prefixes_refused() -> None:
    config = load_config(
        overrides={"http.listen": "off", "http.max.request.bytes": 2048, "mqtt.rules": "r.toml"}
    )
    assert config.listeners.address("http") is None
    assert {name: dict(keys) for name, keys in config.frontend_settings.items()} == {
        "http": {"max.request.bytes": 2048},
        "mqtt": {"rules": "r.toml"},
    }
    with pytest.raises(InvalidConfigError, match=r"nothttp\.max"):
        load_config(overrides={"nothttp.max": 1})


def test_join_needs_the_peers_and_the_clusters_id() -> None:
    peers = "0@127.0.0.1:7001,3@127.0.0.1:7003"
    joining = load_config(overrides={"join": True, "node.id": 3, "peers": peers,
                                      "cluster.id": "c1"})  # fmt: skip
    assert joining.join
    with pytest.raises(InvalidConfigError, match=r"join: needs cluster\.id"):
        load_config(overrides={"join": True, "node.id": 3, "peers": peers})
    with pytest.raises(InvalidConfigError, match="join: peers must name"):
        load_config(overrides={"join": True, "cluster.id": "c1"})


def test_a_rack_and_the_move_throttle_are_read() -> None:
    assert load_config(None, {}).partition_move_throttle == 30_000_000
    config = load_config(None, {"rack": "eu-1a", "partition.move.throttle": 0})
    assert (config.rack, config.partition_move_throttle) == ("eu-1a", 0)
