"""A group write the log refuses changes nothing (issue 14): one broker on a tmpfs the test
fills for real (``small_disk``), so that the coordinator's appends to __consumer_offsets
are refused (KAFKA_STORAGE_ERROR). A KIP-848 member joining then is told so and the group
stays as its records say -- the member already there keeps every partition; a classic
DeleteGroups is refused and the group keeps its committed offsets. Once space returns the
same requests succeed, and a restart (a coordinator replaying the log) finds what memory
held. Clients: librdkafka (confluent-kafka, ``group.protocol=consumer``) for the member
already there and for the admin, a raw ConsumerGroupHeartbeat for the newcomer (its answer
is the point)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from kio.schema.consumer_group_describe.v0 import request as cgd0
from kio.schema.consumer_group_heartbeat.v1 import request as cgh1
from kio.schema.delete_groups.v2 import request as dg2
from kio.static.primitive import i32, i32Timedelta

from tests.helpers import wait_until
from tests.integration.admin.support import admin_url, get
from tests.integration.cluster import BrokerProcess
from tests.integration.kafka.raw import RawClient
from tests.integration.kafka.test_consumer_protocol import (
    BROKER_CONFIG,
    DEADLINE_S,
    Member,
    consumer,
    setup_topic,
    until,
)
from tests.integration.small_disk import fill, small_disk

pytestmark = pytest.mark.integration

_MIB = 1024 * 1024
_LOADING = 14
_NOT_COORDINATOR = 16


def _describe(kafka: str, group: str) -> tuple[object, ...]:
    """The group as ConsumerGroupDescribe shows it: epochs, members with their epochs and
    partitions (asked again while a restarted coordinator loads)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        with RawClient(kafka) as c:
            described = c.call(69, 0, cgd0.ConsumerGroupDescribeRequest(
                group_ids=(group,), include_authorized_operations=False))  # fmt: skip
        (shown,) = described.groups
        if shown.error_code.value != _LOADING:
            break
        assert time.monotonic() < deadline, "the coordinator never loaded"
    members = sorted(
        (m.member_id, int(m.member_epoch), sorted(p for t in m.assignment.topic_partitions
                                                  for p in t.partitions))
        for m in shown.members
    )  # fmt: skip
    return int(shown.error_code.value), int(shown.group_epoch), int(shown.assignment_epoch), members


def _join(kafka: str, group: str, topic: str, member: str) -> int:
    """A newcomer's first heartbeat (epoch 0); the answer's error code."""
    join = cgh1.ConsumerGroupHeartbeatRequest(
        group_id=group, member_id=member, member_epoch=i32(0),
        rebalance_timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        subscribed_topic_names=(topic,), topic_partitions=(),
    )  # fmt: skip
    with RawClient(kafka) as c:
        return int(c.call(68, 1, join).error_code.value)


def _committed(admin: AdminClient, group: str, topic: str) -> dict[int, int]:
    asked = [ConsumerGroupTopicPartitions(group, [CkTopicPartition(topic, p) for p in (0, 1)])]
    (future,) = admin.list_consumer_group_offsets(asked).values()
    return {tp.partition: tp.offset for tp in future.result(DEADLINE_S).topic_partitions}


def _health(broker: BrokerProcess) -> int:
    """The admin listener's /v1/health status: 503 while the disk is below its reserve."""
    return get(admin_url(broker, "/v1/health"))[0]


def _delete(kafka: str, group: str) -> int:
    """DeleteGroups, raw (librdkafka's admin would retry NOT_COORDINATOR until its timeout);
    the group's error code."""
    with RawClient(kafka) as c:
        (result,) = c.call(42, 2, dg2.DeleteGroupsRequest(groups_names=(group,))).results
    return int(result.error_code.value)


def test_a_group_write_refused_by_a_full_disk_changes_nothing(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(BROKER_CONFIG)
    with small_disk(tmp_path / "disk", 40 * _MIB) as disk:
        broker = broker_factory("disk", config_file=config)
        kafka, topic, group, simple = broker.bound()["kafka"], "refused", "g-refused", "g-simple"
        setup_topic(kafka, topic, 4, 8)
        a = Member(kafka, group, topic)
        until(lambda: a.owned() == {0, 1, 2, 3}, "a owns every partition", a)
        committer = consumer(kafka, simple, **{"group.protocol": "classic"})
        committer.commit(offsets=[CkTopicPartition(topic, 0, 3), CkTopicPartition(topic, 1, 5)],
                         asynchronous=False)  # fmt: skip
        committer.close()
        admin = AdminClient({"bootstrap.servers": kafka})
        before = _describe(kafka, group)
        assert _committed(admin, simple, topic) == {0: 3, 1: 5}

        ballast = fill(disk, _MIB)  # below the reserve (5 % of 40 MiB = 2 MiB)
        wait_until(lambda: _health(broker) == 503, timeout=30, message="the broker degraded")
        assert _join(kafka, group, topic, "newcomer-b-0000000001") == _NOT_COORDINATOR
        assert _describe(kafka, group) == before  # no b, no new group epoch
        assert _delete(kafka, simple) == _NOT_COORDINATOR
        assert _committed(admin, simple, topic) == {0: 3, 1: 5}

        ballast.unlink()  # space returns: no restart needed
        wait_until(lambda: _health(broker) == 200, timeout=30, message="health back to ok")
        broker.restart()  # the log is what memory held
        kafka = broker.bound()["kafka"]
        assert _describe(kafka, group) == before
        admin = AdminClient({"bootstrap.servers": kafka})
        assert _committed(admin, simple, topic) == {0: 3, 1: 5}
        assert a.owned() == {0, 1, 2, 3} and a.taken == []  # nothing was ever revoked
        assert _join(kafka, group, topic, "newcomer-b-0000000001") == 0
        assert len(_describe(kafka, group)[3]) == 2  # type: ignore[arg-type]
        assert _delete(kafka, simple) == 0
        a.consumer.close()
        assert broker.stop() == 0  # before the tmpfs goes
