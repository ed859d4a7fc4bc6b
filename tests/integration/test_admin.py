"""Topic administration over LogAdmin against a real broker, and its persistence."""

from __future__ import annotations

import pytest

from logd.errors import ErrorCode
from logd.v1 import admin_pb2, broker_pb2
from tests.integration.cluster import BrokerProcess
from tests.integration.wire import (
    admin,
    batch,
    broker,
    create_topic,
    fetch,
    produce_one,
    values,
)

pytestmark = pytest.mark.integration


def _create(b: BrokerProcess, *topics: admin_pb2.NewTopic, validate_only: bool = False) -> dict:
    answer = admin(b).CreateTopics(
        admin_pb2.CreateTopicsRequest(topics=list(topics), validate_only=validate_only)
    )
    return {t.name: t.error for t in answer.topics}


def _listing(b: BrokerProcess, include_internal: bool = False) -> dict[str, tuple[int, int]]:
    answer = admin(b).ListTopics(admin_pb2.ListTopicsRequest(include_internal=include_internal))
    return {t.name: (t.partitions, t.replication_factor) for t in answer.topics}


def _describe(b: BrokerProcess, name: str) -> admin_pb2.TopicDescription:
    answer = admin(b).DescribeTopics(admin_pb2.DescribeTopicsRequest(names=[name]))
    return answer.topics[0]


def test_create_list_describe_delete(broker: BrokerProcess) -> None:
    errors = _create(
        broker,
        admin_pb2.NewTopic(name="orders", partitions=3, configs={"retention.ms": "60000"}),
        admin_pb2.NewTopic(name="events"),
    )
    assert {name: e.code for name, e in errors.items()} == {"orders": 0, "events": 0}
    assert _listing(broker) == {"events": (1, 1), "orders": (3, 1)}

    described = _describe(broker, "orders")
    assert described.error.code == 0
    assert [
        (p.partition, p.leader_id, list(p.replicas), list(p.isr)) for p in described.partitions
    ] == [
        (0, 0, [0], [0]),
        (1, 0, [0], [0]),
        (2, 0, [0], [0]),
    ]
    # Empty: at most the new leader's LEADER_CHANGE control batch at offset 0 (committed or
    # not yet), never a record (DESIGN.md principle 3).
    assert all(p.log_start_offset == 0 and p.high_watermark in (0, 1) for p in described.partitions)
    configs = {c.name: (c.value, c.is_default) for c in described.configs}
    assert configs["retention.ms"] == ("60000", False)
    assert configs["segment.bytes"] == ("1073741824", True)

    again = _create(broker, admin_pb2.NewTopic(name="orders"))
    assert again["orders"].code == ErrorCode.TOPIC_ALREADY_EXISTS

    deleted = admin(broker).DeleteTopics(admin_pb2.DeleteTopicsRequest(names=["orders", "nope"]))
    assert [(t.name, t.error.code) for t in deleted.topics] == [
        ("orders", 0),
        ("nope", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    assert _listing(broker) == {"events": (1, 1)}
    assert not (broker.data_dir / "orders-0").exists()
    gone = produce_one(broker, "orders", 0, batch([b"x"]))
    assert gone.error.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_a_deleted_topic_comes_back_empty(broker: BrokerProcess) -> None:
    create_topic(broker, "again")
    produce_one(broker, "again", 0, batch([b"old"]))
    admin(broker).DeleteTopics(admin_pb2.DeleteTopicsRequest(names=["again"]))
    create_topic(broker, "again")
    again = fetch(broker, "again", 0, 0)
    assert again.high_watermark <= 1  # the new leader's LEADER_CHANGE at most
    assert values(again.records) == []


def test_create_topics_rejects_bad_requests_per_topic(broker: BrokerProcess) -> None:
    errors = _create(
        broker,
        admin_pb2.NewTopic(name="../x"),
        admin_pb2.NewTopic(name="a" * 250),
        admin_pb2.NewTopic(name="neg", partitions=-1),
        admin_pb2.NewTopic(name="too-many", partitions=1_000_000),
        admin_pb2.NewTopic(name="rf", replication_factor=3),
        admin_pb2.NewTopic(name="cfg", configs={"retention.ms": "soon"}),
        admin_pb2.NewTopic(name="key", configs={"no.such.key": "1"}),
        admin_pb2.NewTopic(name="ok"),
    )
    assert {name: e.code for name, e in errors.items()} == {
        "../x": ErrorCode.INVALID_TOPIC_EXCEPTION,
        "a" * 250: ErrorCode.INVALID_TOPIC_EXCEPTION,
        "neg": ErrorCode.INVALID_PARTITIONS,
        "too-many": ErrorCode.INVALID_PARTITIONS,
        "rf": ErrorCode.INVALID_REPLICATION_FACTOR,
        "cfg": ErrorCode.INVALID_CONFIG,
        "key": ErrorCode.INVALID_CONFIG,
        "ok": 0,
    }
    assert "retention.ms" in errors["cfg"].message
    assert "no.such.key" in errors["key"].message
    assert _listing(broker) == {"ok": (1, 1)}
    dirs = sorted(p.name for p in broker.data_dir.iterdir() if p.is_dir())
    assert dirs == ["__cluster_metadata-0", "ok-0"]

    twice = _create(broker, admin_pb2.NewTopic(name="dup"), admin_pb2.NewTopic(name="dup"))
    assert twice["dup"].code == ErrorCode.INVALID_REQUEST


def test_validate_only_changes_nothing(broker: BrokerProcess) -> None:
    errors = _create(broker, admin_pb2.NewTopic(name="dry", partitions=2), validate_only=True)
    assert errors["dry"].code == 0
    assert _listing(broker) == {}


def test_alter_configs_sets_and_returns_to_default(broker: BrokerProcess) -> None:
    create_topic(broker, "cfg", configs={"retention.ms": "1000"})
    answer = admin(broker).AlterConfigs(
        admin_pb2.AlterConfigsRequest(
            topic="cfg", set={"max.message.bytes": "2000"}, delete=["retention.ms"]
        )
    )
    assert answer.error.code == 0
    configs = {c.name: (c.value, c.is_default) for c in _describe(broker, "cfg").configs}
    assert configs["max.message.bytes"] == ("2000", False)
    assert configs["retention.ms"] == ("604800000", True)
    # The new limit applies to produce at once.
    too_big = produce_one(broker, "cfg", 0, batch([b"x" * 3000]))
    assert too_big.error.code == ErrorCode.MESSAGE_TOO_LARGE

    for request, code in (
        (admin_pb2.AlterConfigsRequest(topic="cfg", set={"segment.bytes": "x"}), 40),
        (admin_pb2.AlterConfigsRequest(topic="cfg", delete=["nope"]), 40),
        (admin_pb2.AlterConfigsRequest(topic="missing", set={"retention.ms": "1"}), 3),
        (admin_pb2.AlterConfigsRequest(topic="../x", set={"retention.ms": "1"}), 17),
    ):
        assert admin(broker).AlterConfigs(request).error.code == code, request
    configs_after = {c.name: c.value for c in _describe(broker, "cfg").configs}
    assert configs_after["segment.bytes"] == "1073741824"


def test_add_partitions_grows_never_shrinks(broker: BrokerProcess) -> None:
    create_topic(broker, "grow", partitions=2)
    produce_one(broker, "grow", 0, batch([b"kept"]))
    answer = admin(broker).CreatePartitions(
        admin_pb2.CreatePartitionsRequest(topic="grow", total_count=5)
    )
    assert answer.error.code == 0
    assert _listing(broker)["grow"] == (5, 1)
    assert produce_one(broker, "grow", 4, batch([b"new"])).error.code == 0
    assert values(fetch(broker, "grow", 0, 0).records) == [(1, b"kept")]  # 0: LEADER_CHANGE
    for total in (5, 3, 0):
        shrink = admin(broker).CreatePartitions(
            admin_pb2.CreatePartitionsRequest(topic="grow", total_count=total)
        )
        assert shrink.error.code == ErrorCode.INVALID_PARTITIONS
    missing = admin(broker).CreatePartitions(
        admin_pb2.CreatePartitionsRequest(topic="missing", total_count=3)
    )
    assert missing.error.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_metadata_and_data_persist_across_restart(broker: BrokerProcess) -> None:
    create_topic(broker, "kept", partitions=2, configs={"retention.bytes": "123456"})
    create_topic(broker, "dropped")
    admin(broker).DeleteTopics(admin_pb2.DeleteTopicsRequest(names=["dropped"]))
    admin(broker).CreatePartitions(admin_pb2.CreatePartitionsRequest(topic="kept", total_count=3))
    produce_one(broker, "kept", 2, batch([b"v"]))
    cluster_id = admin(broker).DescribeCluster(admin_pb2.DescribeClusterRequest()).cluster_id

    broker.restart()

    assert _listing(broker) == {"kept": (3, 1)}
    configs = {c.name: (c.value, c.is_default) for c in _describe(broker, "kept").configs}
    assert configs["retention.bytes"] == ("123456", False)
    assert values(fetch(broker, "kept", 2, 0).records) == [(1, b"v")]  # 0: LEADER_CHANGE
    cluster = admin(broker).DescribeCluster(admin_pb2.DescribeClusterRequest())
    assert cluster.cluster_id == cluster_id
    assert [(b.node_id, b.port) for b in cluster.brokers] == [(0, broker.port)]


def test_internal_topics_are_hidden_unless_asked(broker: BrokerProcess) -> None:
    create_topic(broker, "__internal")
    create_topic(broker, "visible")
    assert _listing(broker) == {"visible": (1, 1)}
    assert _listing(broker, include_internal=True) == {"__internal": (1, 1), "visible": (1, 1)}
    meta = broker_stub_metadata(broker, include_internal=False)
    assert [t.name for t in meta.topics] == ["visible"]
    meta = broker_stub_metadata(broker, include_internal=True)
    assert [(t.name, t.internal) for t in meta.topics] == [("__internal", True), ("visible", False)]


def broker_stub_metadata(
    b: BrokerProcess, *, include_internal: bool
) -> broker_pb2.MetadataResponse:
    return broker(b).Metadata(broker_pb2.MetadataRequest(include_internal=include_internal))
