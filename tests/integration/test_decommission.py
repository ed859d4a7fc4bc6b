"""Decommissioning a broker (issue 23) on four real brokers: under acks=all producers
writing to every partition, `logd cluster broker decommission 3` drains broker 3 (its
partitions move to the others, leadership first), `status` reports it drained, new topics
avoid it, it is stopped, and every partition is fully replicated on the others with every
acknowledged record at its offset; then a decommission that would leave a partition below its
replication factor is refused in one line, and broker 3 is unregistered for good (Kafka's
UnregisterBroker: no broker lists it, it leaves the metadata group; refused while it was
alive, for a broker not decommissioned, for an unknown id); a recommission stops a drain, and
`logd cluster partitions balance` gives the broker its share of the replicas again, its moves
throttled at the cluster's `partition.move.throttle`, set at runtime through Kafka's
IncrementalAlterConfigs on another broker (then deleted with `logd cluster config delete`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from kio.schema.incremental_alter_configs.v1 import request as iac1
from kio.schema.types import BrokerId
from kio.schema.unregister_broker.v0 import request as ub0
from kio.static.primitive import i8

from logd.broker.config import BrokerConfig
from logd.client import Admin, NewTopic, Producer, RecordMetadata
from logd.errors import InvalidReplicationFactorError, InvalidRequestError, LogdError
from logd.metadata.cluster_config import MOVE_THROTTLE
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.kafka.raw import RawClient
from tests.integration.replicas import wait_in_sync
from tests.integration.test_cli import logd, ok, one_error_line
from tests.integration.test_transfer_leadership import _read_all

pytestmark = pytest.mark.integration

NODES = 4
RF = 3
PARTITIONS = 4
#: The cluster's partition.move.throttle, set at runtime: so slow that the balance's moves of
#: "avoiding" (~200 KB a partition) would take many minutes unless it is lifted mid-way.
SLOW = 200


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("decommission") / "cluster", NODES)
    try:
        c.start()
        yield c
    finally:
        c.close()


class Writers:
    """Produces unique values (acks=all, idempotent) round-robin to every partition until
    stopped, keeping every delivery report."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.offsets: dict[bytes, tuple[int, int]] = {}
        self.errors: list[LogdError] = []
        self._stop = threading.Event()
        self._producer = Producer(brokers=bootstrap, acks="all", linger_ms=2)
        self._thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: len(self.offsets) >= 100, timeout=60, message="values acknowledged")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the producer never finished"

    def _run(self) -> None:
        try:
            n = 0
            while not self._stop.is_set() and n < 1_000_000:
                value = b"d%07d" % n
                self._producer.produce(self.topic, value, partition=n % PARTITIONS,
                                       on_delivery=self._report(value))  # fmt: skip
                n += 1
                if n % 40 == 0:
                    self._producer.flush(60)
            assert self._producer.flush(60) == 0
        finally:
            self._producer.close()

    def _report(self, value: bytes):  # type: ignore[no-untyped-def]
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            if err is not None or md is None:
                self.errors.append(err or LogdError("no metadata"))
            else:
                self.offsets[value] = (md.partition, md.offset)

        return on_delivery


def _hosts(cluster: Cluster, topic: str) -> dict[int, tuple[int, ...]]:
    with Admin(brokers=cluster.bootstrap) as admin:
        (described,) = admin.describe_topics([topic])
    return {p.partition: tuple(p.replicas) for p in described.partitions}


def _create(cluster: Cluster, name: str) -> None:
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, PARTITIONS, RF)])
    wait_in_sync(cluster.bootstrap, name, PARTITIONS)


def _status(cluster: Cluster, node: int) -> list[dict[str, object]]:
    out = ok(logd(cluster[node], "cluster", "broker", "status", "--format", "json"))
    return json.loads(out)  # type: ignore[no-any-return]


def _throttle_at(cluster: Cluster, node: int) -> tuple[str, str]:
    """``partition.move.throttle`` as broker ``node`` applies it: (value, source)."""
    with Admin(brokers=cluster[node].address) as admin:
        (entry,) = [c for c in admin.describe_cluster_configs() if c.name == MOVE_THROTTLE]
    return entry.value, entry.source


def _moves_at(cluster: Cluster, node: int) -> set[tuple[str, int, int]]:
    """The moves broker ``node`` lists: (topic, partition, the throttle they apply)."""
    with Admin(brokers=cluster[node].address) as admin:
        return {(m.topic, m.partition, m.throttle) for m in admin.list_partition_moves()}


def _wait_throttle_everywhere(cluster: Cluster, want: tuple[str, str]) -> None:
    """Every broker applies ``want``; the CLI (broker 0) shows it too."""
    for node in range(NODES):
        wait_until(lambda: _throttle_at(cluster, node) == want, timeout=30,  # noqa: B023
                   message=f"broker {node} to apply {want}")  # fmt: skip
    out = ok(logd(cluster[0], "cluster", "config", "get", MOVE_THROTTLE, "--format", "json"))
    assert json.loads(out) == [{"key": MOVE_THROTTLE, "value": want[0], "source": want[1]}]


def _set_cluster_throttle(cluster: Cluster, *, via: int, value: int) -> None:
    """Kafka's IncrementalAlterConfigs of the broker-default resource "" (kafka-configs
    --entity-default; librdkafka refuses an empty name, so the raw kio client) at broker
    ``via``; then every broker applies it, and Kafka's DescribeConfigs of a broker shows it
    as a dynamic default (source 3)."""

    def alter(name: str) -> Any:
        change = iac1.AlterableConfig(name="partition.move.throttle",
                                      config_operation=i8(0), value=str(value))  # fmt: skip
        resource = iac1.AlterConfigsResource(resource_type=i8(4), resource_name=name,
                                             configs=(change,))  # fmt: skip
        request = iac1.IncrementalAlterConfigsRequest(resources=(resource,), validate_only=False)
        with RawClient(cluster[via].bound()["kafka"]) as raw:
            (response,) = raw.call(44, 1, request).responses
        return response

    refused = alter(str(via))  # logd has no per-broker dynamic configs: one clear refusal
    assert refused.error_code == 42 and "cluster-wide" in refused.error_message, refused
    assert alter("").error_code == 0
    _wait_throttle_everywhere(cluster, (str(value), "cluster"))
    admin = AdminClient({"bootstrap.servers": cluster[via].bound()["kafka"]})
    broker = ConfigResource(ResourceType.BROKER, str(via))
    (described,) = admin.describe_configs([broker]).values()
    entry = described.result(30)["partition.move.throttle"]
    assert (entry.value, entry.source, entry.is_read_only) == (str(value), 3, False)


def test_a_recommission_stops_the_drain_and_the_broker_takes_partitions_again(
    cluster: Cluster,
) -> None:
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.decommission_broker(2)
        assert next(b for b in admin.describe_cluster().brokers if b.node_id == 2).draining
        _create(cluster, "avoiding")  # placed while 2 drains: not on it
        assert all(2 not in r for r in _hosts(cluster, "avoiding").values())
        admin.recommission_broker(2)
        with pytest.raises(InvalidRequestError):
            admin.recommission_broker(2)
        assert admin.list_decommissions() == []
        wait_until(lambda: not admin.list_partition_moves(), timeout=60,
                   message="the moves off broker 2 to end")  # fmt: skip
    assert "no broker is being decommissioned" in ok(logd(cluster[0], "cluster", "broker",
                                                          "status"))  # fmt: skip
    with Producer(brokers=cluster.bootstrap, acks="all") as producer:
        for i in range(800):
            producer.produce("avoiding", os.urandom(1000), partition=i % PARTITIONS)
        assert producer.flush(60) == 0
    # The balance's throttle is the cluster's, set at runtime through Kafka on broker 3 and
    # applied by every broker without a restart (issue 23).
    _set_cluster_throttle(cluster, via=3, value=SLOW)
    # Broker 2 holds nothing of "avoiding": a balance moves some of it there, in place.
    started = json.loads(ok(logd(cluster[1], "cluster", "partitions", "balance",
                                 "--format", "json")))  # fmt: skip
    moved = [m for m in started if m["change"] == "replicas"]
    assert moved and all(2 in m["target"] for m in moved), started
    assert {m["throttle"] for m in moved} == {SLOW}, started
    held = {(m["topic"], m["partition"], SLOW) for m in moved}
    wait_until(lambda: _moves_at(cluster, 2) == held, timeout=30,
               message="broker 2 to list the held moves")  # fmt: skip
    # Lifted at runtime: the moves in progress follow the cluster's throttle (their leaders
    # read it), back to each broker's own 30 MB/s -- they end within the wait below.
    said = ok(logd(cluster[0], "cluster", "config", "delete", "partition.move.throttle"))
    assert said.strip() == "partition.move.throttle deleted: each broker's own value applies"
    default = str(BrokerConfig().partition_move_throttle)
    _wait_throttle_everywhere(cluster, (default, "default"))
    with Admin(brokers=cluster.bootstrap) as admin:
        wait_until(lambda: not admin.list_partition_moves(), timeout=90,
                   message="the balance moves to end")  # fmt: skip
        assert admin.balance_partitions() == []  # even now: nothing more to move
    assert "balanced: nothing to move" in ok(logd(cluster[0], "cluster", "partitions",
                                                  "balance"))  # fmt: skip
    assert any(2 in r for r in _hosts(cluster, "avoiding").values())
    _create(cluster, "welcome")  # the least loaded broker now: 2 takes partitions again
    assert any(2 in r for r in _hosts(cluster, "welcome").values())
    wait_in_sync(cluster.bootstrap, "avoiding", PARTITIONS)


def test_a_drained_broker_is_stopped_and_nothing_acknowledged_is_lost(cluster: Cluster) -> None:
    _create(cluster, "drained")
    assert any(3 in r for r in _hosts(cluster, "drained").values())
    writers = Writers(cluster.bootstrap, "drained")
    writers.start()
    try:
        said = ok(logd(cluster[0], "cluster", "broker", "decommission", "3"))
        assert said.strip() == "broker 3: decommissioning: its partitions move to the other brokers"
        wait_until(lambda: _status(cluster, 1) == [{"broker": 3, "partitions": 0, "moving": 0,
                                                    "done": True}],
                   timeout=180, interval=0.5, message="broker 3 to drain")  # fmt: skip
    finally:
        writers.stop()
    assert writers.errors == []
    wait_until(lambda: not list(cluster[3].data_dir.glob("drained-*")), timeout=30,
               message="broker 3 to delete its copies")  # fmt: skip
    line = one_error_line(logd(cluster[0], "cluster", "broker", "unregister", "3"))
    assert "broker 3 is alive: stop it first" in line
    assert cluster[3].stop() == 0
    # Nothing under-replicated without broker 3: every partition in sync on three others.
    wait_in_sync(cluster.bootstrap, "drained", PARTITIONS)
    for replicas in _hosts(cluster, "drained").values():
        assert len(replicas) == RF and 3 not in replicas
    read = {}
    for partition in range(PARTITIONS):
        for offset, value in _read_all(cluster.bootstrap, "drained", partition):
            read[value] = (partition, offset)
    acknowledged = writers.offsets
    assert len(acknowledged) >= 100
    assert {v: read.get(v) for v in acknowledged} == acknowledged
    # Broker 3 drained: brokers 0-2 are left for factor-3 partitions, none may go.
    with Admin(brokers=cluster.bootstrap) as admin:
        with pytest.raises(InvalidReplicationFactorError):
            admin.decommission_broker(0)
        with pytest.raises(InvalidRequestError):
            admin.decommission_broker(99)
    line = one_error_line(logd(cluster[0], "cluster", "broker", "decommission", "1"))
    assert "would leave 2 brokers for partitions of replication factor 3" in line
    usage = logd(cluster[0], "cluster", "broker", "decommission", "x")
    assert usage.returncode == 2 and b"a broker id is an int >= 0, got 'x'" in usage.stderr
    _unregister_the_stopped_broker(cluster, 3)


def _unregister(cluster: Cluster, node: int) -> Any:
    """Kafka's UnregisterBroker (64, v0; no client library has it) at broker 1."""
    with RawClient(cluster[1].bound()["kafka"]) as raw:
        return raw.call(64, 0, ub0.UnregisterBrokerRequest(broker_id=BrokerId(node)))


def _unregister_the_stopped_broker(cluster: Cluster, gone: int) -> None:
    """Broker ``gone``, drained and stopped, is unregistered for good: no broker lists it
    any more (though every --peers names it), it leaves the metadata group's learners."""
    line = one_error_line(logd(cluster[0], "cluster", "broker", "unregister", "1"))
    assert "broker 1 is not decommissioned" in line
    assert _unregister(cluster, 99).error_code == 102  # BROKER_ID_NOT_REGISTERED

    def done() -> bool:
        answer = _unregister(cluster, gone)
        if answer.error_code == 42 and "alive" in (answer.error_message or ""):
            return False  # its session has not expired yet
        assert answer.error_code == 0, answer
        return True

    wait_until(done, timeout=60, interval=0.5, message=f"broker {gone} unregistered")
    others = [n for n in range(NODES) if n != gone]
    for node in others:
        with Admin(brokers=cluster[node].address) as admin:
            wait_until(lambda: [b.node_id for b in admin.describe_cluster().brokers] == others,
                       timeout=30, message=f"broker {node} not to list broker {gone}")  # fmt: skip
    with Admin(brokers=cluster[0].address) as admin:
        wait_until(lambda: gone not in admin.describe_controller_quorum().learners, timeout=30,
                   message=f"broker {gone} out of the metadata group")  # fmt: skip
        assert gone not in admin.describe_controller_quorum().voters
    assert _unregister(cluster, gone).error_code == 102  # gone for good
