"""A registry write made on a follower of ``_schemas`` is forwarded to the writer (the
leader) with the caller's principal, on three mTLS brokers with SASL and ACLs: the leader
believes ``X-Logd-Principal`` only from a broker's certificate (``CN=broker-<id>`` of this
cluster), so a caller known by its client certificate alone writes through any broker
exactly what its ACLs allow -- and the leader checks it again as that caller, not as the
forwarding broker (whose own principal has no ACL here). Their Raft links, over the brokers'
mTLS TCP listeners, are checked too."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from logd.client import Admin, SecurityAdmin
from logd.security.acl import AclOperation, PatternType, ResourceType
from logd.security.certs import issue, make_ca
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.test_security import ADMIN_PASSWORD, CN_RULE, NOW, _acl, _works

pytestmark = pytest.mark.integration

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def _schema(name: str) -> str:
    return json.dumps({"type": "record", "name": name, "fields": [{"name": "a", "type": "int"}]})


@dataclass
class _Secured:
    cluster: Cluster
    pki: Path

    def client(self, node: int, cert: str) -> httpx.Client:
        """HTTPS to broker ``node``'s registry with ``cert``'s client certificate only."""
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / f"{cert}.crt"), str(self.pki / f"{cert}.key"))
        context.check_hostname = False
        url = f"https://{self.cluster[node].bound()['registry']}"
        return httpx.Client(base_url=url, verify=context, timeout=30)

    def admin_settings(self) -> dict[str, object]:
        return {"brokers": self.cluster.bootstrap, "security_protocol": "SASL_SSL",
                "ssl_ca_location": str(self.pki / "ca.crt"),
                "ssl_certificate_location": str(self.pki / "admin.crt"),
                "ssl_key_location": str(self.pki / "admin.key"),
                "sasl_username": "admin", "sasl_password": ADMIN_PASSWORD,
                "request_timeout_ms": 8000}  # fmt: skip


@pytest.fixture
def secured_three(tmp_path: Path) -> Iterator[_Secured]:
    pki = tmp_path / "pki"
    pki.mkdir()
    ca = make_ca("c1", NOW)
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    for name in ("broker-0", "broker-1", "broker-2", "admin", "alice"):
        issued = issue(ca, name, NOW)
        (pki / f"{name}.crt").write_bytes(issued.cert_pem)
        (pki / f"{name}.key").write_bytes(issued.key_pem)
    cluster = Cluster(tmp_path / "cluster", 3)
    for broker in cluster:
        me = f"broker-{broker.node_id}"
        broker.extra_args = [
            "--tls-cert", str(pki / f"{me}.crt"), "--tls-key", str(pki / f"{me}.key"),
            "--tls-ca", str(pki / "ca.crt"), "--tls-client-auth", "required",
            "--auth", "sasl", "--super-users", "User:admin",
            "--ssl-principal-mapping-rules", CN_RULE,
        ]  # fmt: skip
        broker.env = {**os.environ, "LOGD_BOOTSTRAP_USER": f"admin:{ADMIN_PASSWORD}"}
        broker.channel_credentials = grpc.ssl_channel_credentials(
            ca.cert_pem, (pki / "admin.key").read_bytes(), (pki / "admin.crt").read_bytes()
        )
    try:
        cluster.start()
        sec = _Secured(cluster, pki)
        with SecurityAdmin(**sec.admin_settings()) as admin:  # type: ignore[arg-type]
            wait_until(lambda: _works(admin.whoami), timeout=60, message="the bootstrap user")
            admin.create_acls([
                _acl("User:alice", op, ResourceType.SUBJECT, "alice-", PatternType.PREFIXED)
                for op in (AclOperation.READ, AclOperation.WRITE)
            ])  # fmt: skip
        yield sec
    finally:
        cluster.close()


def _register(client: httpx.Client, subject: str, schema: str) -> httpx.Response:
    """The answer, once the writer is elected (50003 while it is not, as Confluent's)."""

    def attempt() -> httpx.Response | None:
        answer = client.post(f"/subjects/{subject}/versions", json={"schema": schema},
                             headers=CT)  # fmt: skip
        retry = answer.status_code >= 500 and answer.json().get("error_code") == 50003
        return None if retry else answer

    return wait_until(attempt, timeout=60, interval=0.2, message=f"registering {subject}")


def test_a_write_forwarded_from_a_follower_keeps_the_callers_principal(
    secured_three: _Secured,
) -> None:
    sec = secured_three
    with sec.client(0, "admin") as admin:  # creates _schemas and elects its writer
        first = _register(admin, "admin-value", _schema("A"))
        assert first.status_code == 200, first.text
    with Admin(**sec.admin_settings()) as topics:  # type: ignore[arg-type]
        (described,) = topics.describe_topics(["_schemas"])
    writer = described.partitions[0].leader
    assert writer in (0, 1, 2), described
    followers = [b.node_id for b in sec.cluster if b.node_id != writer]

    for node in followers:
        with sec.client(node, "alice") as alice:
            # alice's own subject through a follower: forwarded, and the writer, checking
            # the forwarded principal (User:alice), accepts it.
            mine = _register(alice, f"alice-{node}-value", _schema(f"M{node}"))
            assert mine.status_code == 200, mine.text
            # a subject alice may not write: refused as alice (403 naming her).
            theirs = _register(alice, f"shared-{node}-value", _schema(f"S{node}"))
            assert (theirs.status_code, theirs.json()["error_code"]) == (403, 40301)
            assert "User:alice" in theirs.json()["message"]
            # posing as the admin with the header, from a client certificate: not believed.
            posing = alice.put("/config", json={"compatibility": "NONE"},
                               headers={**CT, "X-Logd-Principal": "User:admin"})  # fmt: skip
            assert (posing.status_code, posing.json()["error_code"]) == (403, 40301)

    # What was forwarded is on the writer (and every broker), under alice's subjects.
    with sec.client(writer, "admin") as admin:
        subjects = admin.get("/subjects").json()
    assert sorted(s for s in subjects if s.startswith("alice-")) == sorted(
        f"alice-{n}-value" for n in followers
    )
    assert not [s for s in subjects if s.startswith("shared-")]

    # The brokers' Raft traffic went over their mTLS TCP listeners (--rpc-listen): each
    # certificate checked against the broker its hello names (logd.cluster.rpc_listener).
    tcp = {b.node_id: {p.node_id: "tcp" for p in sec.cluster if p is not b} for b in sec.cluster}
    wait_until(lambda: {b.node_id: b.raft_links() for b in sec.cluster} == tcp,
               timeout=30, message="Raft links over TLS TCP")  # fmt: skip
