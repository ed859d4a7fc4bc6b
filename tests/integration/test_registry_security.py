"""The schema registry on a secured broker (issues 15 and 17): HTTPS with the broker's
certificate and required client certificates, the same users (HTTP Basic against the
SCRAM keys, or the certificate's name) and subject ACLs as every other door, 401/403 as
Confluent's registry answers them, and a real client (confluent-kafka's) configured as its
users configure it."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from logd.client import SecurityAdmin
from logd.security.acl import AclOperation, PatternType, ResourceType
from tests.integration.test_security import ADMIN_PASSWORD, Secured, _acl, secured

__all__ = ["secured"]

pytestmark = pytest.mark.integration

SCHEMA = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def _client(sec: Secured, cert: str, auth: tuple[str, str] | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(sec.pki / "ca.crt"))
    context.load_cert_chain(str(sec.pki / f"{cert}.crt"), str(sec.pki / f"{cert}.key"))
    context.check_hostname = False
    return httpx.Client(
        base_url=f"https://{sec.broker.bound()['registry']}", verify=context, auth=auth,
        timeout=30,
    )  # fmt: skip


@pytest.fixture(scope="module")
def granted(secured: Secured) -> Iterator[Secured]:
    """alice may read and write the subjects starting with ``alice-``; carol nothing."""
    prefixed = PatternType.PREFIXED
    with SecurityAdmin(**secured.settings("admin", ADMIN_PASSWORD)) as admin:
        admin.create_acls([
            _acl("User:alice", op, ResourceType.SUBJECT, "alice-", prefixed)
            for op in (AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE)
        ])  # fmt: skip
    yield secured


def test_who_may_do_what(granted: Secured) -> None:
    with _client(granted, "admin") as admin:  # the certificate's name: a super user
        shared = admin.post("/subjects/shared-value/versions", json={"schema": SCHEMA},
                            headers=CT)  # fmt: skip
        assert shared.status_code == 200, shared.text
        shared_id = shared.json()["id"]
    with _client(granted, "alice") as alice:
        mine = alice.post("/subjects/alice-value/versions", json={"schema": SCHEMA}, headers=CT)
        assert mine.status_code == 200, mine.text
        refused = alice.post("/subjects/shared-value/versions", json={"schema": SCHEMA},
                             headers=CT)  # fmt: skip
        assert (refused.status_code, refused.json()["error_code"]) == (403, 40301)
        assert "User:alice" in refused.json()["message"]
        # Listings leave out what alice may not see; a schema by id needs a readable subject.
        assert alice.get("/subjects").json() == ["alice-value"]
        assert alice.get("/schemas/ids/{}".format(mine.json()["id"])).status_code == 200
        if shared_id != mine.json()["id"]:
            assert alice.get(f"/schemas/ids/{shared_id}").status_code == 403
        denied = alice.put("/config", json={"compatibility": "NONE"}, headers=CT)
        assert (denied.status_code, denied.json()["error_code"]) == (403, 40301)
        # A forwarded principal is believed from a broker's certificate only.
        posing = alice.put("/config", json={"compatibility": "NONE"},
                           headers={**CT, "X-Logd-Principal": "User:admin"})  # fmt: skip
        assert (posing.status_code, posing.json()["error_code"]) == (403, 40301)
    with _client(granted, "carol") as carol:
        assert carol.get("/subjects").json() == []
        assert carol.get("/subjects/alice-value/versions").status_code == 403


def test_basic_credentials_name_the_user_and_a_wrong_one_is_401(granted: Secured) -> None:
    # carol's certificate for TLS, alice's password: the password names the caller.
    with _client(granted, "carol", ("alice", "alice-pw")) as as_alice:
        made = as_alice.post("/subjects/alice-basic-value/versions", json={"schema": SCHEMA},
                             headers=CT)  # fmt: skip
        assert made.status_code == 200, made.text  # carol could not: the caller is alice
        assert "alice-basic-value" in as_alice.get("/subjects").json()
    with _client(granted, "carol", ("alice", "wrong")) as wrong:
        answer = wrong.get("/subjects")
        assert (answer.status_code, answer.json()["error_code"]) == (401, 40101)
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_confluent_client_with_tls_and_basic_auth(granted: Secured) -> None:
    pki = granted.pki
    client = SchemaRegistryClient({
        "url": f"https://{granted.broker.bound()['registry']}",
        "basic.auth.user.info": "alice:alice-pw",
        "ssl.ca.location": str(pki / "ca.crt"),
        "ssl.certificate.location": str(pki / "alice.crt"),
        "ssl.key.location": str(pki / "alice.key"),
    })  # fmt: skip
    sid = client.register_schema("alice-orders-value", Schema(SCHEMA, "AVRO"))
    assert client.get_schema(sid).schema_str == SCHEMA
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("orders-value", Schema(SCHEMA, "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (403, 40301)


def test_the_cli_takes_the_same_credentials(granted: Secured) -> None:
    pki = granted.pki
    flags = ["--tls-ca", str(pki / "ca.crt"), "--tls-cert", str(pki / "alice.crt"),
             "--tls-key", str(pki / "alice.key"), "--user", "alice", "--password", "alice-pw",
             "--registry-url", granted.broker.bound()["registry"]]  # fmt: skip
    schema = pki / "cli.avsc"
    schema.write_text(SCHEMA)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "registry", "schema", "create", "alice-cli-value",
         "--schema", str(schema), "--format", "json", *flags],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["subject"] == "alice-cli-value"
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", "registry", "schema", "create", "bob-value",
         "--schema", str(schema), *flags],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and b"40301" in refused.stderr
    assert refused.stderr.count(b"\n") == 1
