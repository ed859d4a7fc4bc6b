"""Security of the gRPC listener over a real broker process and real TLS (issue 15, item 6):
mTLS with SASL on, users bootstrapped and created through the CLI's client, every refusal
with its one clear error (and logged), an ACL matrix over the RPCs, and a produce quota
holding a producer within 10 % of its rate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from logd.client import Admin, Consumer, NewTopic, Producer, SecurityAdmin, TopicPartition
from logd.errors import (
    BrokerUnavailableError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    LogdError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from logd.security.acl import (
    CLUSTER_NAME,
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from logd.security.certs import Issued, issue, make_ca
from logd.security.quota import QuotaEntity
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
ADMIN_PASSWORD = "admin-secret"
CN_RULE = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"


@dataclasses.dataclass
class Secured:
    broker: BrokerProcess
    pki: Path

    def settings(
        self, user: str | None, password: str | None, cert: str | None = "admin"
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"brokers": self.broker.address, "request_timeout_ms": 8000}
        out["security_protocol"] = "SASL_SSL" if user else "SSL"
        out["ssl_ca_location"] = str(self.pki / "ca.crt")
        if user:
            out["sasl_username"], out["sasl_password"] = user, password
        if cert:
            out["ssl_certificate_location"] = str(self.pki / f"{cert}.crt")
            out["ssl_key_location"] = str(self.pki / f"{cert}.key")
        return out


def _write(pki: Path, name: str, issued: Issued) -> None:
    (pki / f"{name}.crt").write_bytes(issued.cert_pem)
    (pki / f"{name}.key").write_bytes(issued.key_pem)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("secured")
    pki = root / "pki"
    pki.mkdir()
    ca, other = make_ca("c1", NOW), make_ca("c1", NOW, common_name="another CA")
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    for name in ("broker-0", "admin", "alice", "bob", "carol"):
        _write(pki, name, issue(ca, name, NOW))
    _write(
        pki,
        "expired",
        issue(
            ca,
            "alice",
            NOW,
            not_before=NOW - dt.timedelta(days=9),
            not_after=NOW - dt.timedelta(days=1),
        ),
    )
    _write(pki, "foreign", issue(other, "alice", NOW))
    config = root / "broker.toml"
    config.write_text("[quota.window]\nnum = 3\nsize.seconds = 1\n")  # short: a quick test
    broker = BrokerProcess(
        root / "broker",
        config_file=config,
        extra_args=[
            "--tls-cert",
            str(pki / "broker-0.crt"),
            "--tls-key",
            str(pki / "broker-0.key"),
            "--tls-ca",
            str(pki / "ca.crt"),
            "--tls-client-auth",
            "required",
            "--auth",
            "sasl",
            "--super-users",
            "User:admin",
            "--ssl-principal-mapping-rules",
            CN_RULE,
        ],
        env={**os.environ, "LOGD_BOOTSTRAP_USER": f"admin:{ADMIN_PASSWORD}"},
    )
    broker.channel_credentials = grpc.ssl_channel_credentials(
        ca.cert_pem, (pki / "admin.key").read_bytes(), (pki / "admin.crt").read_bytes()
    )
    broker.start()
    sec = Secured(broker, pki)
    admin = SecurityAdmin(**sec.settings("admin", ADMIN_PASSWORD))
    try:
        wait_until(lambda: _works(admin.whoami), timeout=30, message="the bootstrap user")
        for user in ("alice", "bob", "carol"):
            admin.create_user(user, f"{user}-pw", "SCRAM-SHA-512")
        with Admin(**sec.settings("admin", ADMIN_PASSWORD)) as topics:
            topics.create_topics(
                [NewTopic("orders", 1), NewTopic("logs-eu", 1), NewTopic("secret", 1)]
            )
        yield sec
    finally:
        admin.close()
    assert "Traceback" not in broker.stderr_text(), broker._tail()
    assert broker.stop() == 0, broker._tail()


def _works(call: Callable[[], object]) -> bool:
    try:
        call()
    except LogdError:
        return False
    return True


def test_the_admin_produces_and_consumes_over_mtls_with_sasl(secured: Secured) -> None:
    settings = secured.settings("admin", ADMIN_PASSWORD)
    with SecurityAdmin(**settings) as admin:
        assert admin.whoami() == "User:admin"
    producer = Producer(**settings)
    for i in range(10):
        producer.produce("orders", f"v{i}")
    assert producer.flush(30) == 0
    producer.close()
    consumer = Consumer(**settings, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("orders", 0)])
    got = consumer.consume(10, timeout=20)
    consumer.close()
    assert [r.value for r in got] == [f"v{i}".encode() for i in range(10)]


def _refusal(secured: Secured, **settings: Any) -> LogdError:
    with pytest.raises(LogdError) as caught, SecurityAdmin(**settings) as admin:
        admin.whoami()
    return caught.value


def test_each_refused_case_gets_one_clear_error(secured: Secured) -> None:
    s = secured.settings
    failures_before = secured.broker.stderr_text().count("failed authentication on grpc")
    bad_user = "Invalid username or password"
    plain = {"brokers": secured.broker.address, "request_timeout_ms": 8000}
    unavailable = BrokerUnavailableError
    cases: dict[str, tuple[dict[str, Any], type[LogdError], str]] = {
        "wrong password": (s("alice", "nope"), SaslAuthenticationFailedError, bad_user),
        "unknown user": (s("mallory", "pw"), SaslAuthenticationFailedError, bad_user),
        "expired certificate": (s("alice", "alice-pw", "expired"), unavailable, ""),
        "certificate of another CA": (s("alice", "alice-pw", "foreign"), unavailable, ""),
        "no client certificate": (s("alice", "alice-pw", None), unavailable, ""),
        "plaintext client": (plain, unavailable, ""),
    }
    for name, (settings, kind, text) in cases.items():
        error = _refusal(secured, **settings)
        assert isinstance(error, kind), (name, error)
        assert text in str(error) and "\n" not in str(error), (name, error)
    # The broker counted and logged the two failed authentications it saw (TLS refusals
    # end in the TLS layer, before any call).
    wait_until(
        lambda: (
            secured.broker.stderr_text().count("failed authentication on grpc")
            >= failures_before + 2
        ),
        timeout=10,
        message="failed authentications logged",
    )


def test_a_client_that_calls_the_internal_service_is_refused(secured: Secured) -> None:
    """Even the super user with a valid certificate: it names a user, not a broker."""
    from logd.v1 import cluster_pb2, cluster_pb2_grpc

    stub = cluster_pb2_grpc.ClusterInternalStub(secured.broker.channel())  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.RpcError) as caught:
        stub.BrokerHeartbeat(
            cluster_pb2.BrokerHeartbeatRequest(),
            timeout=10,
            metadata=secured.broker.internal_metadata(),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "brokers of this cluster only (certificate None)" in (caught.value.details() or "")
    # Nor may it forward a request naming any caller it likes (the MQTT/HTTP front ends'
    # way to a partition's leader): the broker would run it as that caller.
    from logd.v1 import broker_pb2, forward_pb2, forward_pb2_grpc

    forward = forward_pb2_grpc.ClusterForwardStub(secured.broker.channel())  # type: ignore[no-untyped-call]
    as_admin = forward_pb2.ForwardedCaller(principal="User:admin")
    with pytest.raises(grpc.RpcError) as caught:
        forward.Produce(
            forward_pb2.ForwardedProduce(
                caller=as_admin, request=broker_pb2.ProduceRequest(topic="orders", records=b"")
            ),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def _acl(
    principal: str,
    op: AclOperation,
    rtype: ResourceType,
    name: str,
    pattern: PatternType = PatternType.LITERAL,
) -> AclBinding:
    return AclBinding(
        ResourcePattern(rtype, name, pattern),
        AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW),
    )


def test_acl_matrix_over_the_rpcs(secured: Secured) -> None:
    """bob has no ACL: every call is refused with its resource's error. alice has some: what
    they allow works, READ and WRITE imply DESCRIBE, the rest is refused."""
    with SecurityAdmin(**secured.settings("admin", ADMIN_PASSWORD)) as admin:
        prefixed = PatternType.PREFIXED
        admin.create_acls(
            [
                _acl("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "orders"),
                _acl("User:alice", AclOperation.READ, ResourceType.TOPIC, "logs-", prefixed),
                _acl("User:alice", AclOperation.READ, ResourceType.GROUP, "g-alice"),
                _acl("User:alice", AclOperation.CREATE, ResourceType.TOPIC, "alice-", prefixed),
            ]
        )
    alice = Admin(**secured.settings("alice", "alice-pw", "alice"))
    bob = Admin(**secured.settings("bob", "bob-pw", "bob"))
    try:
        # describe: implied by WRITE (orders) and by READ (logs-eu); nothing for bob
        assert {t.name for t in alice.list_topics()} == {"orders", "logs-eu"}
        assert bob.list_topics() == []
        assert [t.name for t in alice.describe_topics(["logs-eu"])] == ["logs-eu"]
        denied: list[tuple[Callable[[], object], type[LogdError]]] = [
            (lambda: bob.describe_topics(["orders"]), TopicAuthorizationFailedError),
            (lambda: alice.describe_topics(["secret"]), TopicAuthorizationFailedError),
            (lambda: bob.create_topics([NewTopic("bob-t", 1)]), TopicAuthorizationFailedError),
            (lambda: alice.delete_topics(["orders"]), TopicAuthorizationFailedError),
            (
                lambda: alice.alter_configs("orders", {"retention.ms": "1"}),
                TopicAuthorizationFailedError,
            ),
            (lambda: alice.create_partitions("orders", 2), TopicAuthorizationFailedError),
            (lambda: alice.transfer_leadership("orders", 0), ClusterAuthorizationFailedError),
            (lambda: bob.describe_groups(["g-alice"]), GroupAuthorizationFailedError),
            (lambda: alice.delete_groups(["g-alice"]), GroupAuthorizationFailedError),
        ]
        for call, kind in denied:
            with pytest.raises(kind):
                call()
        alice.create_topics([NewTopic("alice-t", 1)])  # CREATE on the prefix
        assert alice.describe_cluster().brokers  # DescribeCluster needs no ACL (Kafka's)
        with pytest.raises(ClusterAuthorizationFailedError):
            SecurityAdmin(**secured.settings("alice", "alice-pw", "alice")).describe_acls()
    finally:
        alice.close()
        bob.close()
    _produce_and_consume_as_alice_and_bob(secured)


def _produce_and_consume_as_alice_and_bob(secured: Secured) -> None:
    alice = Producer(**secured.settings("alice", "alice-pw", "alice"), enable_idempotence=False)
    alice.produce("orders", "from alice")
    assert alice.flush(20) == 0
    alice.close()
    errors: list[BaseException | None] = []
    bob = Producer(
        **secured.settings("bob", "bob-pw", "bob"),
        enable_idempotence=False,
        delivery_timeout_ms=5000,
    )
    with pytest.raises(LogdError):  # bob may not even see the topic's metadata
        bob.produce("orders", "from bob", on_delivery=lambda err, md: errors.append(err))
        bob.flush(10)
        raise errors[0] if errors and errors[0] else AssertionError("bob's record delivered")
    bob.close()
    reader = Consumer(
        **secured.settings("alice", "alice-pw", "alice"), auto_offset_reset="earliest"
    )
    reader.assign([TopicPartition("orders", 0)])
    with pytest.raises(TopicAuthorizationFailedError):
        reader.consume(1, timeout=10)  # WRITE does not imply READ
    reader.close()


def test_a_produce_quota_holds_a_producer_within_ten_percent(secured: Secured) -> None:
    """A producer as fast as it can be, against producer_byte_rate: once Kafka's sampled
    window has filled (3 windows of 1 s here; the first of them allow a burst, as in
    Kafka), what is acknowledged per second is the quota, within 10 %."""
    rate = 200_000  # bytes per second
    with SecurityAdmin(**secured.settings("admin", ADMIN_PASSWORD)) as admin:
        admin.alter_quotas(QuotaEntity("carol", None), {"producer_byte_rate": rate})
        cluster = (ResourceType.CLUSTER, CLUSTER_NAME)
        admin.create_acls(
            [
                _acl("User:carol", AclOperation.WRITE, ResourceType.TOPIC, "orders"),
                _acl("User:carol", AclOperation.IDEMPOTENT_WRITE, *cluster),
            ]
        )
    producer = Producer(
        **secured.settings("carol", "carol-pw", "carol"),
        linger_ms=0,
        batch_size=16_384,
        compression="none",
    )
    values = [os.urandom(4000) for _ in range(600)]  # incompressible: 2.4 MB on the wire
    acked: list[tuple[float, int]] = []

    def delivered(err: object, md: object) -> None:
        assert err is None, err
        acked.append((time.monotonic(), 4000))

    start = time.monotonic()
    for value in values:
        producer.produce("orders", value, on_delivery=delivered)
    assert producer.flush(120) == 0
    producer.close()
    steady = [(t, n) for t, n in acked if t - start >= 4.0]  # past the burst and the window
    span = steady[-1][0] - steady[0][0]
    achieved = sum(n for _, n in steady[1:]) / span
    assert span > 5, span
    assert abs(achieved - rate) / rate < 0.10, (achieved, span)
    # The admin listener counts what the quota held back.
    status, body = _admin_get(secured, "admin")
    assert status == 200
    quota = (("quota", "producer_byte_rate"),)
    assert _samples(body, "logd_kafka_quota_throttled_requests_total")[quota] >= 1
    assert _samples(body, "logd_kafka_quota_throttle_seconds_total")[quota] > 0


def _cli(
    secured: Secured, *args: str, user: str = "admin", password: str = ADMIN_PASSWORD
) -> subprocess.CompletedProcess[bytes]:
    pki = secured.pki
    flags = ["-b", secured.broker.address, "--user", user, "--password", password,
             "--tls-ca", str(pki / "ca.crt"), "--tls-cert", str(pki / "admin.crt"),
             "--tls-key", str(pki / "admin.key")]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "cli.main", *args, *flags], capture_output=True,
                          timeout=60, check=False)  # fmt: skip


def test_the_cli_manages_users_acls_and_quotas(secured: Secured) -> None:
    def ok(*args: str) -> str:
        result = _cli(secured, *args)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode()

    assert ok("security", "whoami").split() == ["PRINCIPAL", "User:admin"]
    ok("security", "user", "create", "dave", "-p", "dave-pw", "--mechanism", "SCRAM-SHA-512")
    assert "dave" in ok("security", "user", "list")
    ok("security", "acl", "create", "--allow-principal", "User:dave", "--operation",
       "read,describe", "--topic", "dave-", "--resource-pattern-type", "prefixed")  # fmt: skip
    listed = ok("security", "acl", "list", "--allow-principal", "User:dave", "--format", "json")
    assert sorted(a["operation"] for a in json.loads(listed)) == ["DESCRIBE", "READ"]
    ok("security", "quota", "alter", "--name", "user=dave", "--add", "consumer_byte_rate=1000")
    assert "consumer_byte_rate" in ok("security", "quota", "describe", "--name", "user=dave")
    deleted = ok("security", "acl", "delete", "--allow-principal", "User:dave", "--yes")
    assert deleted.count("User:dave") == 2
    ok("security", "user", "delete", "dave", "--yes")
    # A wrong password: one line, exit 1.
    wrong = _cli(secured, "security", "user", "list", user="admin", password="guess")
    err = wrong.stderr.decode().strip().splitlines()
    assert wrong.returncode == 1 and len(err) == 1, err
    assert err[0] == "error: Authentication failed: Invalid username or password"
    # An unprivileged user: refused with Kafka's error, one line.
    denied = _cli(secured, "security", "acl", "list", user="bob", password="bob-pw")
    assert denied.returncode == 1 and "may not DESCRIBE cluster" in denied.stderr.decode()


def _admin_get(secured: Secured, user: str, password: str | None = None) -> tuple[int, bytes]:
    """GET /metrics of the secured broker's admin listener over TLS with ``user``'s
    certificate (and HTTP Basic when ``password`` is given)."""
    import base64
    import ssl
    import urllib.error
    import urllib.request

    pki = secured.pki
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.check_hostname = False  # the broker's certificate names broker-0
    context.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = f"https://{secured.broker.listeners['admin']}/metrics"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(body: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        tuple(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == name
    }


def test_the_admin_listener_takes_tls_and_credentials_like_every_door(secured: Secured) -> None:
    """/metrics over TLS: a client certificate names the caller; a wrong password in HTTP
    Basic is 401, counted in the metrics it could not read."""
    status, body = _admin_get(secured, "alice", "not-her-password")
    assert status == 401 and json.loads(body)["error_code"] == 58  # SASL_AUTHENTICATION_FAILED
    status, body = _admin_get(secured, "admin")
    assert status == 200
    failures = _samples(body, "logd_security_authentication_failures_total")
    assert failures[(("listener", "admin"), ("method", "password"))] >= 1
