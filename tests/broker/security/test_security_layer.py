"""The broker's security layer over a real metadata image: users, ACLs and quotas written
as metadata records, applied, snapshotted and restored; the admin answers; the guard's
decisions and refusals; the action table covering every seam call."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from logd.broker import seam, seam_groups
from logd.broker.security.actions import ACTIONS
from logd.broker.security.admin import SecurityAdmin
from logd.broker.security.authn import Authenticator
from logd.broker.security.guard import Guard, host_of
from logd.broker.security.settings import AuthMode, SecuritySettings
from logd.broker.security.state import SecurityState
from logd.clock import ManualClock
from logd.cluster.controller.image import MetadataImage
from logd.cluster.controller.records import validate_write
from logd.cluster.controller.security_records import change_record
from logd.errors import (
    ClusterAuthorizationFailedError,
    DuplicateResourceError,
    GroupAuthorizationFailedError,
    InvalidPrincipalTypeError,
    InvalidRequestError,
    ResourceNotFoundError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
    UnacceptableCredentialError,
)
from logd.metadata.security import SecurityChange
from logd.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from logd.security.admin_types import QuotaAlteration, ScramDeletion, ScramUpsertion
from logd.security.principal import BROKER
from logd.security.quota import QuotaEntity, QuotaKind
from logd.security.scram import ScramClient, ScramMechanism, salted_password
from logd.v1 import cluster_pb2

SHA512 = ScramMechanism.SCRAM_SHA_512


@dataclass(frozen=True)
class Who:
    principal: str
    client_id: str = "c"
    listener: str = "grpc"
    address: str = "ipv4:10.0.0.1:5555"


class Cluster:
    """One metadata image fed by the records the admin writes (as the controller would)."""

    def __init__(self, **settings: object) -> None:
        self.image = MetadataImage()
        self.offset = 0
        self.settings = SecuritySettings(**settings)  # type: ignore[arg-type]
        self.state = SecurityState(
            lambda: self.image.security,
            super_users=self.settings.super_users,
            allow_everyone_if_no_acl_found=self.settings.allow_if_no_acl,
        )
        self.admin = SecurityAdmin(self.state, self.write)
        self.clock = ManualClock()
        self.guard = Guard(self.settings, self.state, self.clock)
        self.authn = Authenticator(self.settings, self.state, random_bytes=lambda n: b"r" * n)

    async def write(self, changes: Sequence[SecurityChange]) -> None:
        records = [change_record(c) for c in changes]
        if records:
            validate_write(cluster_pb2.ControllerWriteRequest(records=list(records)))
            self.offset += 1
            self.image.apply(list(records), self.offset)

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run(coro)

    def add_user(self, name: str, password: str, mech: ScramMechanism = SHA512) -> None:
        salt = name.encode().ljust(16, b"!")
        upsert = ScramUpsertion(
            name, mech, 4096, salt, salted_password(mech, password.encode(), salt, 4096)
        )
        assert self.run(self.admin.alter_users([upsert], [])) == {name: None}


def allow(
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


def test_users_are_stored_as_scram_keys_and_authenticate_everywhere() -> None:
    c = Cluster(auth=AuthMode.SASL)
    c.add_user("alice", "wonderland")
    stored = c.image.security.credentials[("alice", SHA512)]
    assert b"wonderland" not in stored.stored_key + stored.server_key + stored.salt
    assert c.authn.password("alice", "wonderland", "grpc") == "User:alice"
    with pytest.raises(SaslAuthenticationFailedError):
        c.authn.password("alice", "wrong", "http")
    server = c.authn.scram("SCRAM-SHA-512")
    client = ScramClient(SHA512, "alice", "wonderland", "clientnonce1234567890")
    client.verify(server.step(client.final(server.step(client.first()))))
    assert c.authn.scram_done(server, "kafka") == "User:alice"
    assert c.authn.failures[("http", "password")] == 1
    assert [d.name for d in c.admin.describe_users()] == ["alice"]


def test_user_alterations_refuse_duplicates_unknown_deletions_and_weak_iterations() -> None:
    c = Cluster()
    c.add_user("alice", "pw")
    bad_iter = ScramUpsertion("bob", SHA512, 1000, b"s", b"x" * 64)
    twice = [ScramUpsertion("carol", SHA512, 4096, b"s", b"x" * 64)]
    result = c.run(
        c.admin.alter_users(
            [bad_iter, *twice], [ScramDeletion("carol", SHA512), ScramDeletion("dave", SHA512)]
        )
    )
    assert isinstance(result["bob"], UnacceptableCredentialError)
    assert isinstance(result["carol"], DuplicateResourceError)
    assert isinstance(result["dave"], ResourceNotFoundError)
    assert c.run(c.admin.alter_users([], [ScramDeletion("alice", SHA512)])) == {"alice": None}
    assert c.admin.describe_users() == []
    assert isinstance(c.admin.describe_users(["alice"])[0].error, ResourceNotFoundError)


def test_security_survives_a_metadata_snapshot() -> None:
    c = Cluster()
    c.add_user("alice", "pw")
    c.run(
        c.admin.create_acls(
            [allow("User:alice", AclOperation.READ, ResourceType.TOPIC, "t-", PatternType.PREFIXED)]
        )
    )
    c.run(
        c.admin.alter_quotas(
            [QuotaAlteration(QuotaEntity("alice", None), (("producer_byte_rate", 1024.0),))]
        )
    )
    c.run(
        c.admin.alter_quotas(
            [QuotaAlteration(QuotaEntity(None, ""), (("consumer_byte_rate", 5.0),))]
        )
    )
    restored = MetadataImage.restore(c.image.snapshot())
    assert restored.security.credentials == c.image.security.credentials
    assert restored.security.acls == c.image.security.acls
    assert restored.security.quotas == c.image.security.quotas


def test_forged_security_records_are_refused_before_proposing() -> None:
    bad = [
        cluster_pb2.MetadataRecord(
            scram=cluster_pb2.ScramCredentialRecord(
                name="x", mechanism=1, salt=b"s", stored_key=b"k", server_key=b"k", iterations=4096
            )
        ),
        cluster_pb2.MetadataRecord(
            acl=cluster_pb2.AclRecord(
                resource_type=99,
                resource_name="t",
                pattern_type=3,
                principal="User:a",
                host="*",
                operation=3,
                permission=3,
            )
        ),
        cluster_pb2.MetadataRecord(
            acl=cluster_pb2.AclRecord(
                resource_type=2,
                resource_name="t",
                pattern_type=3,
                principal="nobody",
                host="*",
                operation=3,
                permission=3,
            )
        ),
        cluster_pb2.MetadataRecord(
            quota=cluster_pb2.ClientQuotaRecord(user="u", key="bytes_per_year", value=1)
        ),
    ]
    for record in bad:
        with pytest.raises((InvalidRequestError, InvalidPrincipalTypeError)):
            validate_write(cluster_pb2.ControllerWriteRequest(records=[record]))


def test_acl_admin_create_describe_delete() -> None:
    c = Cluster()
    a = allow("User:alice", AclOperation.READ, ResourceType.TOPIC, "t")
    b = allow("User:bob", AclOperation.WRITE, ResourceType.TOPIC, "t")
    bad = allow("alice", AclOperation.READ, ResourceType.TOPIC, "t")
    results = c.run(c.admin.create_acls([a, b, bad]))
    assert results[:2] == [None, None] and results[2] is not None
    assert c.admin.describe_acls(AclBindingFilter()) == sorted([a, b])
    deleted = c.run(c.admin.delete_acls([AclBindingFilter(principal="User:bob")]))
    assert deleted == [[b]] and c.admin.describe_acls(AclBindingFilter()) == [a]


def test_guard_refuses_with_kafkas_errors_and_counts() -> None:
    c = Cluster(auth=AuthMode.SASL, super_users=("User:admin",))
    c.run(c.admin.create_acls([
        allow("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "orders"),
        allow("User:alice", AclOperation.READ, ResourceType.GROUP, "g"),
    ]))  # fmt: skip
    alice, anon = Who("User:alice"), Who("User:ANONYMOUS")
    c.guard.admit(alice, "produce", ["orders"])
    c.guard.admit(alice, "init_producer_id")  # WRITE on some topic (KIP-679)
    c.guard.admit(alice, "join_group", ["g"])
    c.guard.admit(Who("User:admin"), "delete_topics", ["orders"])
    with pytest.raises(TopicAuthorizationFailedError):
        c.guard.admit(alice, "fetch", ["orders"])
    with pytest.raises(GroupAuthorizationFailedError):
        c.guard.admit(alice, "delete_groups", ["g"])
    with pytest.raises(ClusterAuthorizationFailedError):
        c.guard.admit(alice, "create_acls")
    with pytest.raises(SaslAuthenticationFailedError, match="authentication required"):
        c.guard.admit(anon, "metadata", [])
    with pytest.raises(ClusterAuthorizationFailedError, match="no authorization rule"):
        c.guard.admit(alice, "a_new_call_nobody_listed")
    assert c.guard.visible(alice, "list_topics", ["orders", "secret"]) == ["orders"]
    assert c.guard.refused[("grpc", "fetch")] == 1
    assert sum(c.guard.refused.values()) == 5


def test_authorized_operations_are_what_the_one_authorizer_allows() -> None:
    """Kafka's ``authorized_operations`` answers: the operations the resource type takes that
    the caller may do (DESCRIBE implied by READ/DELETE); all of them without ACLs, for a
    super user and for the broker itself."""
    op, g = AclOperation, ResourceType.GROUP
    c = Cluster(auth=AuthMode.SASL, super_users=("User:admin",))
    c.run(c.admin.create_acls([
        allow("User:alice", op.READ, g, "g"),
        allow("User:bob", op.DELETE, g, "g"),
        allow("User:bob", op.ALTER_CONFIGS, ResourceType.TOPIC, "t"),
    ]))  # fmt: skip
    assert c.guard.authorized_operations(Who("User:alice"), g, "g") == {op.READ, op.DESCRIBE}
    assert c.guard.authorized_operations(Who("User:alice"), g, "other") == frozenset()
    assert c.guard.authorized_operations(Who("User:bob"), g, "g") == {op.DELETE, op.DESCRIBE}
    assert c.guard.authorized_operations(Who("User:bob"), ResourceType.TOPIC, "t") == {
        op.ALTER_CONFIGS, op.DESCRIBE_CONFIGS,
    }  # fmt: skip
    everything = {op.READ, op.DESCRIBE, op.DELETE}
    assert c.guard.authorized_operations(Who("User:admin"), g, "g") == everything
    assert c.guard.authorized_operations(Who(str(BROKER)), g, "g") == everything
    assert Cluster().guard.authorized_operations(Who("User:ANONYMOUS"), g, "g") == everything
    assert not c.guard.refused  # asking what one may do is not a refusal


def test_the_broker_itself_may_do_anything_and_has_no_quota() -> None:
    """What a front end keeps on its own behalf (MQTT's sessions): no ACL names the broker,
    and a default user quota does not throttle it; a user named like it is still a user."""
    c = Cluster(auth=AuthMode.SASL)
    c.run(c.admin.alter_quotas(
        [QuotaAlteration(QuotaEntity("", None), (("producer_byte_rate", 10.0),))]
    ))  # fmt: skip
    broker = Who(str(BROKER))
    c.guard.admit(broker, "produce", ["__mqtt_sessions"])
    c.guard.admit(broker, "commit_offsets", ["mqtt-dev-7"])
    assert c.guard.visible(broker, "fetch", ["a", "b"]) == ["a", "b"]
    assert c.guard.record(broker, QuotaKind.PRODUCE, 1_000_000) == 0
    assert c.guard.record(Who("User:alice"), QuotaKind.PRODUCE, 1_000_000) > 0  # the quota holds
    with pytest.raises(TopicAuthorizationFailedError):
        c.guard.admit(Who("User:logd"), "produce", ["__mqtt_sessions"])
    assert sum(c.guard.refused.values()) == 1


def test_without_authentication_everyone_may() -> None:
    c = Cluster()
    c.guard.admit(Who("User:ANONYMOUS"), "delete_topics", ["anything"])


def test_guard_throttles_and_mutes_the_quota_identity() -> None:
    c = Cluster(auth=AuthMode.SASL)
    c.run(
        c.admin.alter_quotas(
            [QuotaAlteration(QuotaEntity("alice", None), (("producer_byte_rate", 1000.0),))]
        )
    )
    alice, alice2 = Who("User:alice", "one"), Who("User:alice", "two")
    assert c.guard.record(alice, QuotaKind.PRODUCE, 1000) == 0
    throttle = c.guard.record(alice, QuotaKind.PRODUCE, 20_000)
    assert throttle == 11_000
    assert c.guard.throttle_ms(alice) == 11_000
    assert c.guard.throttle_ms(alice2) == 0  # the mute is per client id; the rate is per user
    c.clock.advance(10_000)
    assert c.guard.throttle_ms(alice) == 1000
    c.clock.advance(1000)
    assert c.guard.throttle_ms(alice) == 0


def test_host_of_every_address_form() -> None:
    assert host_of("ipv4:10.0.0.1:5555") == "10.0.0.1"
    assert host_of("ipv6:[::1]:5555") == "::1"
    assert host_of("127.0.0.1:9092") == "127.0.0.1"
    assert host_of("[fe80::1]:9092") == "fe80::1"
    assert host_of("unix:/tmp/x") == "unix:/tmp/x"


SEAM_ACTIONS = (
    "produce", "init_producer_id", "fetch", "list_offsets", "metadata", "describe_cluster",
    "create_topics", "delete_topics", "list_topics", "describe_topics", "alter_configs",
    "create_partitions", "transfer_leadership", "find_coordinators", "join_group",
    "sync_group", "heartbeat", "leave_group", "commit_offsets", "fetch_offsets", "list_groups",
    "describe_groups", "delete_groups",
)  # fmt: skip


def test_every_seam_action_has_a_rule() -> None:
    assert set(SEAM_ACTIONS) <= set(ACTIONS)
    # Every action the seam names (admitted, or filtered per item) has a line of its own.
    source = Path(seam.__file__).read_text() + Path(seam_groups.__file__).read_text()
    named = set(re.findall(r'(?:admit|visible|refusals)\(\s*caller,\s*"(\w+)"', source))
    assert {"join_group", "delete_offsets", "commit_offsets_topics"} <= named
    assert named <= set(ACTIONS), named - set(ACTIONS)
