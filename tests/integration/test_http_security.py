"""The HTTP listener passes the same gate as every door: HTTP Basic credentials checked
against the stored SCRAM keys, Kafka's ACLs, Confluent's 401/403 bodies."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from logd.client import Admin, NewTopic, SecurityAdmin
from logd.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import JSON_V2, url_of

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-secret")
ALICE = ("alice", "alice-pw")


def _settings(user: tuple[str, str], broker: BrokerProcess) -> dict[str, str]:
    return {"brokers": broker.address, "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": user[0],
            "sasl_password": user[1]}  # fmt: skip


def _ready(admin: SecurityAdmin) -> bool:
    try:
        admin.whoami()
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root = tmp_path_factory.mktemp("http-sec")
    broker = BrokerProcess(
        root / "broker",
        extra_args=["--auth", "sasl", "--super-users", "User:admin"],
        env={**os.environ, "LOGD_BOOTSTRAP_USER": f"{ADMIN[0]}:{ADMIN[1]}"},
    )
    broker.start()
    with SecurityAdmin(**_settings(ADMIN, broker)) as admin:
        wait_until(lambda: _ready(admin), timeout=30, message="the bootstrap user")
        admin.create_user(*ALICE, "SCRAM-SHA-512")
        admin.create_acls(
            [
                AclBinding(
                    ResourcePattern(ResourceType.TOPIC, "orders", PatternType.LITERAL),
                    AccessControlEntry(
                        "User:alice", "*", AclOperation.WRITE, AclPermissionType.ALLOW
                    ),
                )
            ]
        )
    with Admin(**_settings(ADMIN, broker)) as topics:
        topics.create_topics([NewTopic("orders", 1), NewTopic("secret", 1)])
    yield broker
    code = broker.stop()
    assert "Traceback" not in broker.stderr_text(), broker._tail()
    assert code == 0, broker._tail()


def _client(broker: BrokerProcess, auth: tuple[str, str] | None) -> httpx.Client:
    return httpx.Client(base_url=url_of(broker), auth=auth, timeout=30)


def _produce(client: httpx.Client, topic: str) -> httpx.Response:
    return client.post(f"/topics/{topic}", json={"records": [{"value": {"a": 1}}]},
                       headers={"Content-Type": JSON_V2})  # fmt: skip


def test_no_or_wrong_credentials_get_401(secured: BrokerProcess) -> None:
    for auth in (None, ("alice", "wrong"), ("nobody", "x")):
        with _client(secured, auth) as client:
            answer = _produce(client, "orders")
            assert answer.status_code == 401, answer.text
            assert answer.json()["error_code"] == 40101
            assert answer.headers["www-authenticate"].startswith("Basic")
    with _client(secured, None) as client:
        answer = client.get("/topics", headers={"Authorization": "Basic !!!"})
        assert answer.status_code == 401 and answer.json()["error_code"] == 40101


def test_acls_decide_what_a_user_may_do(secured: BrokerProcess) -> None:
    with _client(secured, ALICE) as alice:
        answer = _produce(alice, "orders")
        assert answer.status_code == 200 and answer.json()["offsets"][0]["error_code"] is None
        assert alice.get("/topics").json() == ["orders"]  # WRITE implies DESCRIBE
        denied = _produce(alice, "secret")
        assert denied.status_code == 403, denied.text
        assert denied.json()["error_code"] == 40301
        assert alice.get("/topics/secret").status_code == 403
        # CREATE is needed to create a topic on first produce
        assert _produce(alice, "brand-new").status_code == 403
    with _client(secured, ADMIN) as admin:
        assert set(admin.get("/topics").json()) >= {"orders", "secret"}
        assert _produce(admin, "secret").status_code == 200
