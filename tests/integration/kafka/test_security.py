"""The Kafka listener secured (issue 15, item 6): confluent-kafka and kcat over SASL_SSL with
SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN against a real broker with real TLS; a wrong password
and an unknown user refused with one clear error; ACLs managed through confluent-kafka's
AdminClient and obeyed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from kafka import TopicPartition as KpTopicPartition
from kafka import errors as kafka_errors
from kafka.admin import KafkaAdminClient

from logd.client import SecurityAdmin
from logd.security.certs import issue, make_ca
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
PASSWORD = "admin-secret"


@dataclasses.dataclass
class Secured:
    broker: BrokerProcess
    pki: Path

    @property
    def kafka(self) -> str:
        return self.broker.bound()["kafka"]

    def conf(self, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
        return {
            "bootstrap.servers": self.kafka,
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": mechanism,
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": str(self.pki / "ca.crt"),
        }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("kafka-secured")
    pki = root / "pki"
    pki.mkdir()
    ca = make_ca("k", NOW)
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    broker_cert = issue(ca, "broker-0", NOW)
    (pki / "broker.crt").write_bytes(broker_cert.cert_pem)
    (pki / "broker.key").write_bytes(broker_cert.key_pem)
    broker = BrokerProcess(
        root / "broker",
        extra_args=["--tls-cert", str(pki / "broker.crt"), "--tls-key", str(pki / "broker.key"),
                    "--tls-ca", str(pki / "ca.crt"), "--auth", "sasl",
                    "--super-users", "User:admin"],
        env={**os.environ, "LOGD_BOOTSTRAP_USER": f"admin:{PASSWORD}"},
    )  # fmt: skip
    import grpc

    broker.channel_credentials = grpc.ssl_channel_credentials(ca.cert_pem)
    broker.start()
    sec = Secured(broker, pki)
    admin = SecurityAdmin(
        brokers=broker.address, security_protocol="SASL_SSL", sasl_username="admin",
        sasl_password=PASSWORD, ssl_ca_location=str(pki / "ca.crt"),
    )  # fmt: skip
    try:
        wait_until(lambda: _whoami(admin), timeout=30, message="the bootstrap user")
        admin.create_user("admin", PASSWORD, "SCRAM-SHA-512")  # the bootstrap one is SHA-256
        admin.create_user("alice", "alice-pw", "SCRAM-SHA-512")
    except BaseException:
        broker.close()  # a failed set-up leaves no broker running
        raise
    finally:
        admin.close()
    yield sec
    assert "Traceback" not in broker.stderr_text(), broker._tail()
    assert broker.stop() == 0, broker._tail()


def _whoami(admin: SecurityAdmin) -> bool:
    try:
        return admin.whoami() == "User:admin"
    except Exception:
        return False


def _consume(conf: dict[str, Any], topic: str, n: int) -> list[bytes]:
    consumer = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    return got


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_confluent_kafka_produces_and_consumes_over_sasl_ssl(
    secured: Secured, mechanism: str
) -> None:
    conf = secured.conf("admin", PASSWORD, mechanism)
    topic = "ck-" + mechanism.lower()
    admin = AdminClient(conf)  # kept: a collected client cancels its futures
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer(conf)
    for i in range(5):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    assert _consume(conf, topic, 5) == [f"v{i}".encode() for i in range(5)]


def _kcat(
    secured: Secured,
    *args: str,
    password: str = PASSWORD,
    mechanism: str = "SCRAM-SHA-512",
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    flags = [f"-X{k}={v}" for k, v in secured.conf("admin", password, mechanism).items()
             if k != "bootstrap.servers"]  # fmt: skip
    return subprocess.run(["kcat", "-b", secured.kafka, *flags, *args], input=stdin, text=True,
                          capture_output=True, timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_kcat_produces_and_consumes_over_sasl_ssl(secured: Secured, mechanism: str) -> None:
    topic = "kc-" + mechanism.lower()
    assert _kcat(secured, "-t", topic, "-P", mechanism=mechanism, stdin="a\nb\nc\n").returncode == 0
    out = _kcat(secured, "-t", topic, "-C", "-e", "-q", mechanism=mechanism)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["a", "b", "c"]


def test_a_wrong_password_and_an_unknown_user_are_refused_with_one_clear_error(
    secured: Secured,
) -> None:
    wrong = _kcat(secured, "-L", password="WRONG")
    assert wrong.returncode != 0
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in wrong.stderr
    errors: list[KafkaError] = []
    unknown = Producer({**secured.conf("mallory", "pw"), "error_cb": errors.append})
    unknown.poll(5)
    wait_until(
        lambda: unknown.poll(0.2) is not None or bool(errors), timeout=15, message="an error"
    )
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    assert "invalid credentials" in errors[0].str()
    log = secured.broker.stderr_text()
    assert log.count("failed authentication on kafka") >= 2


def test_acls_through_the_admin_client(secured: Secured) -> None:
    admin = AdminClient(secured.conf("admin", PASSWORD))
    for future in admin.create_topics(
        [NewTopic("alice-t", 1, 1), NewTopic("hidden", 1, 1)]
    ).values():
        future.result(30)
    binding = AclBinding(ResourceType.TOPIC, "alice-", ResourcePatternType.PREFIXED, "User:alice",
                         "*", AclOperation.READ, AclPermissionType.ALLOW)  # fmt: skip
    for future in admin.create_acls([binding]).values():
        assert future.result(30) is None
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)  # fmt: skip
    assert admin.describe_acls(everything).result(30) == [binding]
    for future in admin.delete_acls([everything]).values():
        assert future.result(30) == [binding]
    assert admin.describe_acls(everything).result(30) == []


def _allow(admin: AdminClient, kind: ResourceType, name: str, *operations: AclOperation) -> None:
    bindings = [
        AclBinding(kind, name, ResourcePatternType.LITERAL, "User:alice", "*", operation,
                   AclPermissionType.ALLOW)
        for operation in operations
    ]  # fmt: skip
    for future in admin.create_acls(bindings).values():
        assert future.result(30) is None


def test_a_user_is_answered_per_topic_and_per_group_as_her_acls_say(secured: Secured) -> None:
    admin = AdminClient(secured.conf("admin", PASSWORD))
    for future in admin.create_topics([NewTopic("al-t", 2, 1), NewTopic("secret", 1, 1)]).values():
        future.result(30)
    producer = Producer(secured.conf("admin", PASSWORD))
    for i in range(6):
        producer.produce("al-t", f"v{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0
    _allow(admin, ResourceType.TOPIC, "al-t", AclOperation.READ, AclOperation.WRITE)
    alice = secured.conf("alice", "alice-pw")
    alice_admin = AdminClient(alice)
    # Metadata v13 from librdkafka as a user who may see some topics: only those are listed.
    listed = alice_admin.list_topics(timeout=30).topics
    assert "al-t" in listed and "secret" not in listed
    # Asked by name, a topic she may not describe is refused in the answer, not by a close.
    named = alice_admin.list_topics("secret", timeout=30).topics["secret"]
    assert named.error is not None
    assert named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    refused: list[KafkaError] = []
    denied = Producer({**alice, "acks": "all"})
    denied.produce("secret", b"x", on_delivery=lambda err, msg: refused.append(err))
    denied.flush(30)
    assert [e.code() for e in refused] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    # A group needs READ on the group (Kafka's GROUP resource).
    errors: list[KafkaError] = []
    consumer = Consumer({**alice, "group.id": "al-grp", "auto.offset.reset": "earliest",
                         "error_cb": errors.append})  # fmt: skip
    consumer.subscribe(["al-t"])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is not None:
            errors.append(message.error())
    assert any(e.code() == KafkaError.GROUP_AUTHORIZATION_FAILED for e in errors), errors
    consumer.close()
    _allow(admin, ResourceType.GROUP, "al-grp", AclOperation.READ)
    consumer = Consumer({**alice, "group.id": "al-grp", "auto.offset.reset": "earliest"})
    consumer.subscribe(["al-t"])
    deadline = time.monotonic() + 30
    while len(got) < 6 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert sorted(got) == [f"v{i}".encode() for i in range(6)]
    _authorized_operations_follow_the_acls(admin, alice_admin)
    log = secured.broker.stderr_text()
    assert "handler failed" not in log and "closing" not in log, log[-2000:]


def _authorized_operations_follow_the_acls(admin: AdminClient, alice_admin: AdminClient) -> None:
    """DescribeGroups, DescribeCluster and Metadata's ``authorized_operations``, asked for by
    librdkafka's admin client, are what the one authorizer lets each user do."""
    op = AclOperation

    def group_ops(client: AdminClient, group: str) -> set[AclOperation] | None:
        asked = client.describe_consumer_groups([group], include_authorized_operations=True)
        found = asked[group].result(30).authorized_operations
        return None if found is None else set(found)

    assert group_ops(alice_admin, "al-grp") == {op.READ, op.DESCRIBE}  # DESCRIBE implied
    assert group_ops(admin, "al-grp") == {op.READ, op.DESCRIBE, op.DELETE}  # a super user
    described = alice_admin.describe_consumer_groups(["al-grp"])["al-grp"].result(30)
    assert described.authorized_operations is None  # not asked for
    with pytest.raises(KafkaException, match="GROUP_AUTHORIZATION_FAILED"):
        group_ops(alice_admin, "not-hers")  # no DESCRIBE: refused, no operations
    cluster = alice_admin.describe_cluster(include_authorized_operations=True).result(30)
    assert cluster.authorized_operations is None  # nothing allowed: librdkafka says None
    cluster = admin.describe_cluster(include_authorized_operations=True).result(30)
    assert op.ALTER in cluster.authorized_operations and op.CLUSTER_ACTION in (
        cluster.authorized_operations
    )
    topics = alice_admin.describe_topics(
        TopicCollection(["al-t"]), include_authorized_operations=True
    )
    assert set(topics["al-t"].result(30).authorized_operations) == {
        op.READ, op.WRITE, op.DESCRIBE
    }  # fmt: skip


def test_partition_reassignments_need_alter_and_describe_on_the_cluster(secured: Secured) -> None:
    """AlterPartitionReassignments needs ALTER on the cluster and ListPartitionReassignments
    DESCRIBE on it, as Kafka's (kafka-python's admin client: confluent-kafka has neither)."""
    admin = AdminClient(secured.conf("admin", PASSWORD))
    for future in admin.create_topics([NewTopic("al-moved", 1, 1)]).values():
        future.result(30)
    alice = KafkaAdminClient(
        bootstrap_servers=secured.kafka, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
        sasl_plain_password="alice-pw", ssl_cafile=str(secured.pki / "ca.crt"),
    )  # fmt: skip
    tp = KpTopicPartition("al-moved", 0)
    try:
        with pytest.raises(kafka_errors.ClusterAuthorizationFailedError):
            alice.alter_partition_reassignments({tp: [0]})
        with pytest.raises(kafka_errors.ClusterAuthorizationFailedError):
            alice.list_partition_reassignments()
        _allow(admin, ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE)
        assert alice.list_partition_reassignments() == {}
        with pytest.raises(kafka_errors.ClusterAuthorizationFailedError):
            alice.alter_partition_reassignments({tp: [0]})
        _allow(admin, ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER)
        # Its replicas already: nothing to move, and no error.
        assert alice.alter_partition_reassignments({tp: [0]}) == {tp: None}
        assert alice.alter_partition_reassignments({tp: None}) == {
            tp: kafka_errors.NoReassignmentInProgressError
        }
    finally:
        alice.close()
