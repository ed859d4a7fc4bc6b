"""The MQTT listener behind the broker's security (issue 19 with issue 15), over a real broker
process, real TLS and real clients (Debian's mosquitto_pub, paho-mqtt): CONNECT's user name
and password checked against the broker's SCRAM users, a client certificate naming the
principal, anonymous clients refused, ACLs applied by the seam's one gate to what a device
publishes and what it is sent (retained messages included) -- nothing stored when refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from logd.client import (
    OFFSET_BEGINNING,
    Admin,
    Consumer,
    NewTopic,
    SecurityAdmin,
    TopicPartition,
)
from logd.errors import BrokerUnavailableError, LogdError
from logd.security.acl import (
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
from tests.integration.mqtt_helpers import mqtt_address

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
ADMIN_PASSWORD = "admin-secret"
CN_RULE = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"


@dataclasses.dataclass
class Secured:
    broker: BrokerProcess
    pki: Path

    def client(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> dict[str, Any]:
        """logd client settings (mTLS with the admin's certificate, SASL as ``user``)."""
        return {
            "brokers": self.broker.address,
            "request_timeout_ms": 8000,
            "security_protocol": "SASL_SSL",
            "ssl_ca_location": str(self.pki / "ca.crt"),
            "ssl_certificate_location": str(self.pki / "admin.crt"),
            "ssl_key_location": str(self.pki / "admin.key"),
            "sasl_username": user,
            "sasl_password": password,
        }

    def pub(self, topic: str, message: str, *args: str) -> subprocess.CompletedProcess[str]:
        """mosquitto_pub over TLS (the broker's CA), QoS 1: it exits 0 once PUBACKed."""
        host, port = mqtt_address(self.broker)
        return subprocess.run(
            ["mosquitto_pub", "-h", host, "-p", str(port), "--cafile",
             str(self.pki / "ca.crt"), "-q", "1", "-t", topic, "-m", message, *args],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip


def _write(pki: Path, name: str, issued: Issued) -> None:
    (pki / f"{name}.crt").write_bytes(issued.cert_pem)
    (pki / f"{name}.key").write_bytes(issued.key_pem)


def _allow(principal: str, op: AclOperation, topic: str) -> AclBinding:
    return AclBinding(
        ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
        AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW),
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    root = tmp_path_factory.mktemp("mqtt-secured")
    pki = root / "pki"
    pki.mkdir()
    ca = make_ca("c1", NOW)
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    for name in ("broker-0", "admin", "alice", "dev-cert"):
        _write(pki, name, issue(ca, name, NOW))
    config = root / "broker.toml"
    config.write_text("[quota.window]\nnum = 3\nsize.seconds = 1\n")  # short: a quick test
    broker = BrokerProcess(
        root / "broker",
        config_file=config,
        extra_args=[
            "--tls-cert", str(pki / "broker-0.crt"), "--tls-key", str(pki / "broker-0.key"),
            "--tls-ca", str(pki / "ca.crt"), "--tls-client-auth", "requested",
            "--auth", "sasl", "--super-users", "User:admin",
            "--ssl-principal-mapping-rules", CN_RULE,
        ],
        env={**os.environ, "LOGD_BOOTSTRAP_USER": f"admin:{ADMIN_PASSWORD}"},
    )  # fmt: skip
    broker.channel_credentials = grpc.ssl_channel_credentials(
        ca.cert_pem, (pki / "admin.key").read_bytes(), (pki / "admin.crt").read_bytes()
    )
    broker.start()
    sec = Secured(broker, pki)
    admin = SecurityAdmin(**sec.client())
    try:
        wait_until(lambda: _works(admin.whoami), timeout=30, message="the bootstrap user")
        for user in ("alice", "bob", "carol", "dave"):
            admin.create_user(user, f"{user}-pw", "SCRAM-SHA-512")
        admin.create_acls(
            [
                _allow("User:alice", AclOperation.WRITE, "sensors"),
                _allow("User:alice", AclOperation.READ, "sensors"),
                _allow("User:dev-cert", AclOperation.WRITE, "sensors"),
                _allow("User:carol", AclOperation.WRITE, "metered"),
                _allow("User:bob", AclOperation.READ, "public"),
                _allow("User:dave", AclOperation.WRITE, "made-by-dave"),
            ]
        )
        with Admin(**sec.client()) as topics:
            topics.create_topics(
                [NewTopic("sensors", 1), NewTopic("public", 1), NewTopic("metered", 1)]
            )
        yield sec
    finally:
        admin.close()
    assert "Traceback" not in broker.stderr_text(), broker._tail()
    assert broker.stop() == 0, broker._tail()
    broker.close()


def _works(call: Any) -> bool:
    try:
        call()
    except LogdError:  # not yet: the broker is still coming up
        return False
    return True


def _values(sec: Secured, topic: str) -> list[bytes]:
    """Every value in ``topic`` (partition 0) now: read until a poll brings nothing. A TLS
    handshake that times out on a loaded machine is tried again (for 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        out: list[bytes] = []
        try:
            with Consumer(**sec.client()) as consumer:
                consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
                while got := consumer.consume(100, timeout=2.0):
                    out += [r.value for r in got]
            return out
        except BrokerUnavailableError:
            if time.monotonic() > deadline:
                raise


def test_a_user_with_its_password_publishes_over_tls(secured: Secured) -> None:
    done = secured.pub("sensors/dev-7/temp", "21.5", "-u", "alice", "-P", "alice-pw")
    assert done.returncode == 0, done.stderr
    assert b"21.5" in _values(secured, "sensors")


def test_a_client_certificate_names_the_device(secured: Secured) -> None:
    pki = secured.pki
    done = secured.pub(
        "sensors/dev-cert/temp", "19.0",
        "--cert", str(pki / "dev-cert.crt"), "--key", str(pki / "dev-cert.key"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"19.0" in _values(secured, "sensors")


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_bad_credentials_and_anonymous_clients_are_refused(secured: Secured, version: str) -> None:
    before = secured.broker.stderr_text().count("failed authentication on mqtt")
    wrong = secured.pub("sensors/x/y", "wrong", "-u", "alice", "-P", "nope", "-V", version)
    unknown = secured.pub("sensors/x/y", "unknown", "-u", "mallory", "-P", "x", "-V", version)
    anonymous = secured.pub("sensors/x/y", "anonymous", "-V", version)
    for refused in (wrong, unknown):
        assert refused.returncode != 0
        assert "bad user name or password" in refused.stderr.lower(), refused.stderr
    assert anonymous.returncode != 0
    assert "not authori" in anonymous.stderr.lower(), anonymous.stderr
    wait_until(
        lambda: secured.broker.stderr_text().count("failed authentication on mqtt") >= before + 3,
        timeout=10,
        message="the failed authentications logged",
    )
    values = _values(secured, "sensors")
    assert not {b"wrong", b"unknown", b"anonymous"} & set(values)


class _Paho:
    """A paho-mqtt 5.0 client over TLS as ``user`` (or the client certificate ``cert``;
    ``websocket``: over WebSocket at /mqtt on the HTTPS listener), with what the broker
    answered."""

    def __init__(
        self, sec: Secured, user: str = "", password: str = "", *, cert: str = "",
        websocket: bool = False,
    ) -> None:  # fmt: skip
        self.acks: dict[int, int] = {}
        self.received: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self.refused: int | None = None
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"paho-{user or cert}",
            protocol=MQTTProtocolVersion.MQTTv5,
            transport="websockets" if websocket else "tcp",
        )  # fmt: skip
        certs = {"certfile": str(sec.pki / f"{cert}.crt"), "keyfile": str(sec.pki / f"{cert}.key")}
        self.client.tls_set(
            ca_certs=str(sec.pki / "ca.crt"), cert_reqs=ssl.CERT_REQUIRED, **(certs if cert else {})
        )
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc.value)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.received.append(
            (m.topic, m.payload, bool(m.retain))
        )
        host, port = mqtt_address(sec.broker)
        if websocket:
            self.client.ws_set_options(path="/mqtt")
            host, _, http_port = sec.broker.bound()["http"].rpartition(":")
            port = int(http_port)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.connected.wait(15)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = reason.value
        self.connected.set()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """The PUBACK's reason code."""
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        wait_until(lambda: mid in self.acks, timeout=15, message=f"PUBACK of {topic}")
        return self.acks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_acls_decide_what_a_device_may_publish_and_receive(secured: Secured) -> None:
    """bob may read ``public`` and nothing else: his publishes are refused with Not
    authorized (nothing stored, retained or not); a retained message of ``sensors`` is not
    sent to him, one of ``public`` is; alice, who may, gets hers."""
    alice = _Paho(secured, "alice", "alice-pw")
    bob = _Paho(secured, "bob", "bob-pw")
    try:
        assert bob.publish("sensors/bob/x", b"by bob") == 0x87
        assert bob.publish("sensors/bob/y", b"retained by bob", retain=True) == 0x87
        assert alice.publish("sensors/dev-1/x", b"kept", retain=True) == 0
        admin = _Paho(secured, "admin", ADMIN_PASSWORD)
        assert admin.publish("public/x", b"kept for all", retain=True) == 0
        admin.close()
        for device in (alice, bob):
            device.client.subscribe([("sensors/#", 1), ("public/#", 1)])
            assert device.subscribed.wait(15)
        wait_until(lambda: (b"kept for all" in [m[1] for m in bob.received]), timeout=15,
                   message="bob gets the retained message of public")  # fmt: skip
        wait_until(lambda: (b"kept" in [m[1] for m in alice.received]), timeout=15,
                   message="alice gets the retained message of sensors")  # fmt: skip
        # By now bob was sent every retained message for him: none of `sensors`.
        assert not [m for m in bob.received if m[0].startswith("sensors")], bob.received
    finally:
        alice.close()
        bob.close()
    stored = _values(secured, "sensors")
    assert b"by bob" not in stored and b"retained by bob" not in stored


def test_a_device_over_its_produce_quota_is_held(secured: Secured) -> None:
    """carol may produce 2,000 B/s: 30 publishes of 1,000 B take her several seconds (the
    listener stops reading her socket while the quota mutes her), and all are stored."""
    with SecurityAdmin(**secured.client()) as admin:
        admin.alter_quotas(QuotaEntity("carol", None), {"producer_byte_rate": 2000.0})
    carol = _Paho(secured, "carol", "carol-pw")
    try:
        started = time.monotonic()
        mids = [carol.client.publish("metered/c/x", b"m" * 1000, qos=1).mid for _ in range(30)]
        wait_until(lambda: all(m in carol.acks for m in mids), timeout=90, message="PUBACKs")
        elapsed = time.monotonic() - started
    finally:
        carol.close()
    assert all(carol.acks[m] == 0 for m in mids)
    assert elapsed >= 5.0, f"30 kB at 2 kB/s took {elapsed:.1f} s: not held"
    assert len(_values(secured, "metered")) == 30


def _topics(sec: Secured) -> set[str]:
    with Admin(**sec.client()) as admin:
        return {t.name for t in admin.list_topics()}


def test_a_topic_is_made_for_a_device_only_if_it_may_create_it(secured: Secured) -> None:
    """dave may write ``made-by-dave`` but not create it: his PUBLISH is refused with Not
    authorized and no topic is made (the seam's gate asks CREATE for his principal, as for a
    Kafka client's auto-created topic); with CREATE granted the same PUBLISH makes it."""
    dave = _Paho(secured, "dave", "dave-pw")
    try:
        assert dave.publish("made-by-dave/d1/x", b"too soon") == 0x87
        assert "made-by-dave" not in _topics(secured)
        with SecurityAdmin(**secured.client()) as admin:
            admin.create_acls([_allow("User:dave", AclOperation.CREATE, "made-by-dave")])
        wait_until(lambda: dave.publish("made-by-dave/d1/x", b"made") == 0, timeout=30,
                   message="dave's PUBLISH accepted once he may create the topic")  # fmt: skip
    finally:
        dave.close()
    assert _values(secured, "made-by-dave") == [b"made"]


def test_a_client_certificate_names_the_device_over_websocket(secured: Secured) -> None:
    """MQTT over WebSocket at /mqtt on the HTTPS listener: the certificate the device shows
    in the TLS handshake is its principal (``dev-cert``, by the mapping rule), as on the TCP
    listener; without one (and no password) it is refused as anonymous."""
    device = _Paho(secured, cert="dev-cert", websocket=True)
    try:
        assert device.refused is None
        assert device.publish("sensors/dev-cert/ws", b"over wss") == 0
        assert device.publish("public/dev-cert/ws", b"not allowed") == 0x87
    finally:
        device.close()
    assert b"over wss" in _values(secured, "sensors")
    anonymous = _Paho(secured, websocket=True)
    try:
        assert anonymous.refused == 0x87
    finally:
        anonymous.close()
