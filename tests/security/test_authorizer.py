"""The authorizer against Kafka's rules: worked examples from Kafka's documentation, and a
property test against a small reference model (a plain transcription of Kafka's older
AclAuthorizer: filter the ACLs that apply, then deny-exists / allow-exists) over random ACL
sets and requests, with ACLs added and removed so the index is exercised both ways."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.errors import InvalidPrincipalTypeError, InvalidRequestError
from logd.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    parse_enum,
)
from logd.security.authorizer import Authorizer
from logd.security.principal import KafkaPrincipal

Op = AclOperation
Perm = AclPermissionType
RT = ResourceType
ALICE = KafkaPrincipal.user("alice")
BOB = KafkaPrincipal.user("bob")
HOST = "10.0.0.1"


def acl(
    name: str,
    op: AclOperation,
    perm: AclPermissionType = Perm.ALLOW,
    principal: str = "User:alice",
    *,
    rtype: ResourceType = RT.TOPIC,
    pattern: PatternType = PatternType.LITERAL,
    host: str = "*",
) -> AclBinding:
    return AclBinding(
        ResourcePattern(rtype, name, pattern), AccessControlEntry(principal, host, op, perm)
    )


def authorizer(
    *bindings: AclBinding, allow_if_none: bool = False, supers: tuple[str, ...] = ()
) -> Authorizer:
    auth = Authorizer(super_users=supers, allow_everyone_if_no_acl_found=allow_if_none)
    for b in bindings:
        auth.add(b)
    return auth


def test_read_implies_describe_but_deny_read_does_not_deny_describe() -> None:
    auth = authorizer(
        acl("t", Op.READ),
        acl("t", Op.READ, Perm.DENY, "User:bob"),
        acl("t", Op.DESCRIBE, principal="User:bob"),
    )
    assert auth.authorize(ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "t")
    assert not auth.authorize(ALICE, HOST, Op.WRITE, RT.TOPIC, "t")
    assert not auth.authorize(BOB, HOST, Op.READ, RT.TOPIC, "t")
    assert auth.authorize(BOB, HOST, Op.DESCRIBE, RT.TOPIC, "t")


def test_alter_configs_implies_describe_configs_only() -> None:
    auth = authorizer(acl("t", Op.ALTER_CONFIGS))
    assert auth.authorize(ALICE, HOST, Op.DESCRIBE_CONFIGS, RT.TOPIC, "t")
    assert not auth.authorize(ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "t")


def test_deny_wins_over_allow_all_and_wildcards() -> None:
    auth = authorizer(acl("*", Op.ALL, principal="User:*"), acl("secret", Op.READ, Perm.DENY))
    assert auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "public")
    assert not auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "secret")
    assert auth.authorize(BOB, HOST, Op.READ, RT.TOPIC, "secret")


def test_prefixed_patterns_cover_names_that_start_with_them() -> None:
    auth = authorizer(acl("logs-", Op.WRITE, pattern=PatternType.PREFIXED))
    assert auth.authorize(ALICE, HOST, Op.WRITE, RT.TOPIC, "logs-eu")
    assert auth.authorize(ALICE, HOST, Op.WRITE, RT.TOPIC, "logs-")
    assert not auth.authorize(ALICE, HOST, Op.WRITE, RT.TOPIC, "logs")
    assert not auth.authorize(ALICE, HOST, Op.WRITE, RT.GROUP, "logs-eu")


def test_host_must_match() -> None:
    auth = authorizer(acl("t", Op.READ, host="10.0.0.9"))
    assert not auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "t")
    assert auth.authorize(ALICE, "10.0.0.9", Op.READ, RT.TOPIC, "t")


def test_super_users_bypass_even_deny() -> None:
    auth = authorizer(acl("t", Op.ALL, Perm.DENY, "User:*"), supers=("User:admin",))
    assert auth.authorize(KafkaPrincipal.user("admin"), HOST, Op.DELETE, RT.TOPIC, "t")
    assert not auth.authorize(ALICE, HOST, Op.DELETE, RT.TOPIC, "t")


def test_allow_everyone_only_when_no_acl_applies_to_the_resource() -> None:
    auth = authorizer(acl("t", Op.READ, principal="User:bob"), allow_if_none=True)
    assert auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "other")
    assert not auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "t")  # an ACL exists: bob's
    assert not authorizer().authorize(ALICE, HOST, Op.READ, RT.TOPIC, "t")


def test_add_is_idempotent_and_remove_undoes_it() -> None:
    auth = authorizer()
    binding = acl("p", Op.READ, pattern=PatternType.PREFIXED)
    assert auth.add(binding) and not auth.add(binding) and len(auth) == 1
    assert auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "pq")
    assert auth.remove(binding) and not auth.remove(binding) and len(auth) == 0
    assert not auth.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "pq")


def test_filters_as_describe_and_delete_acls_use_them() -> None:
    lit, star, pre = (
        acl("abc", Op.READ),
        acl("*", Op.WRITE),
        acl("ab", Op.READ, pattern=PatternType.PREFIXED),
    )
    other = acl("abc", Op.READ, rtype=RT.GROUP)
    auth = authorizer(lit, star, pre, other)
    match = AclBindingFilter(RT.TOPIC, "abc", PatternType.MATCH)
    assert set(auth.describe(match)) == {lit, star, pre}
    assert auth.describe(AclBindingFilter(RT.TOPIC, "abc", PatternType.LITERAL)) == [lit]
    assert set(auth.describe(AclBindingFilter(name="abc"))) == {lit, other}
    assert auth.describe(AclBindingFilter(operation=Op.WRITE)) == [star]
    assert len(auth.describe(AclBindingFilter())) == 4


def test_validation_refuses_what_create_acls_refuses() -> None:
    good = acl("t", Op.READ)
    good.validate()
    bad = [
        acl("t", Op.ANY),
        acl("t", Op.READ, Perm.ANY),
        acl("t", Op.READ, rtype=RT.ANY),
        acl("t", Op.READ, pattern=PatternType.MATCH),
        acl("", Op.READ),
        acl("my-cluster", Op.ALTER, rtype=RT.CLUSTER),
    ]
    for binding in bad:
        with pytest.raises(InvalidRequestError):
            binding.validate()
    with pytest.raises(InvalidPrincipalTypeError):
        acl("t", Op.READ, principal="alice").validate()
    acl("kafka-cluster", Op.ALTER, rtype=RT.CLUSTER).validate()


def test_enum_names_as_tools_spell_them() -> None:
    assert parse_enum(ResourceType, "transactional-id") is RT.TRANSACTIONAL_ID
    assert parse_enum(ResourceType, "TransactionalId") is RT.TRANSACTIONAL_ID
    assert parse_enum(AclOperation, "describe_configs") is Op.DESCRIBE_CONFIGS
    assert parse_enum(PatternType, "prefixed") is PatternType.PREFIXED
    assert parse_enum(AclOperation, "3") is Op.READ
    with pytest.raises(InvalidRequestError, match="unknown AclOperation"):
        parse_enum(AclOperation, "fly")


def test_authorize_by_resource_type_kip_679() -> None:
    write_pre = acl("a", Op.WRITE, pattern=PatternType.PREFIXED)
    assert authorizer(write_pre).authorize_by_resource_type(ALICE, HOST, Op.WRITE, RT.TOPIC)
    denied_all = authorizer(write_pre, acl("*", Op.WRITE, Perm.DENY))
    assert not denied_all.authorize_by_resource_type(ALICE, HOST, Op.WRITE, RT.TOPIC)
    dominated = authorizer(
        acl("ab", Op.WRITE), acl("a", Op.WRITE, Perm.DENY, pattern=PatternType.PREFIXED)
    )
    assert not dominated.authorize_by_resource_type(ALICE, HOST, Op.WRITE, RT.TOPIC)
    assert not authorizer(acl("t", Op.READ)).authorize_by_resource_type(
        ALICE, HOST, Op.WRITE, RT.TOPIC
    )


# -- the property test ------------------------------------------------------------------------

IMPLIED = {
    Op.DESCRIBE: {Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER},
    Op.DESCRIBE_CONFIGS: {Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS},
}


def reference(
    acls: set[AclBinding],
    supers: set[str],
    allow_if_none: bool,
    principal: str,
    host: str,
    op: AclOperation,
    rtype: ResourceType,
    name: str,
) -> bool:
    """Kafka's AclAuthorizer.authorizeAction, transcribed as plainly as possible."""
    if principal in supers:
        return True
    applying = [
        a
        for a in acls
        if a.pattern.resource_type == rtype
        and (
            (a.pattern.pattern_type == PatternType.LITERAL and a.pattern.name in (name, "*"))
            or (a.pattern.pattern_type == PatternType.PREFIXED and name.startswith(a.pattern.name))
        )
    ]
    if not applying:
        return allow_if_none

    def exists(wanted: AclOperation, perm: AclPermissionType) -> bool:
        return any(
            a.entry.permission == perm
            and a.entry.principal in (principal, "User:*")
            and a.entry.operation in (wanted, Op.ALL)
            and a.entry.host in (host, "*")
            for a in applying
        )

    if exists(op, Perm.DENY):
        return False
    return any(exists(o, Perm.ALLOW) for o in IMPLIED.get(op, {op}))


NAMES = st.sampled_from(["a", "ab", "abc", "b", "ba", "*"])
PRINCIPALS = st.sampled_from(["User:alice", "User:bob", "User:*"])
HOSTS = st.sampled_from(["*", "h1", "h2"])
OPS = st.sampled_from(
    [
        Op.ALL,
        Op.READ,
        Op.WRITE,
        Op.DESCRIBE,
        Op.ALTER,
        Op.DELETE,
        Op.DESCRIBE_CONFIGS,
        Op.ALTER_CONFIGS,
        Op.CREATE,
    ]
)
RTYPES = st.sampled_from([RT.TOPIC, RT.GROUP, RT.TRANSACTIONAL_ID, RT.SUBJECT])
PATTERNS = st.builds(
    ResourcePattern, RTYPES, NAMES, st.sampled_from([PatternType.LITERAL, PatternType.PREFIXED])
)
ENTRIES = st.builds(
    AccessControlEntry, PRINCIPALS, HOSTS, OPS, st.sampled_from([Perm.ALLOW, Perm.DENY])
)
BINDINGS = st.builds(AclBinding, PATTERNS, ENTRIES)
REQUESTS = st.tuples(
    st.sampled_from(["User:alice", "User:bob", "User:carol"]),
    st.sampled_from(["h1", "h2"]),
    OPS.filter(lambda o: o is not Op.ALL),
    RTYPES,
    st.sampled_from(["a", "ab", "abc", "abd", "b", "ba", "c", "*"]),
)


@settings(max_examples=250, deadline=None)
@given(
    added=st.lists(BINDINGS, max_size=14),
    removed=st.lists(st.integers(0, 13), max_size=5),
    supers=st.sets(st.sampled_from(["User:bob", "User:carol"]), max_size=1),
    allow_if_none=st.booleans(),
    requests=st.lists(REQUESTS, min_size=1, max_size=25),
)
def test_authorizer_agrees_with_the_reference_model(
    added: list[AclBinding],
    removed: list[int],
    supers: set[str],
    allow_if_none: bool,
    requests: list[tuple[str, str, AclOperation, ResourceType, str]],
) -> None:
    auth = Authorizer(super_users=supers, allow_everyone_if_no_acl_found=allow_if_none)
    model: set[AclBinding] = set()
    for binding in added:
        assert auth.add(binding) == (binding not in model)
        model.add(binding)
    for index in removed:
        if index < len(added):
            assert auth.remove(added[index]) == (added[index] in model)
            model.discard(added[index])
    assert len(auth) == len(model) and set(auth.bindings()) == model
    for principal, host, op, rtype, name in requests:
        expected = reference(model, supers, allow_if_none, principal, host, op, rtype, name)
        got = auth.authorize(KafkaPrincipal.parse(principal), host, op, rtype, name)
        assert got == expected, (principal, host, op, rtype, name)


@settings(max_examples=200, deadline=None)
@given(added=st.lists(BINDINGS, max_size=10), request=REQUESTS)
def test_authorize_by_resource_type_is_sound(
    added: list[AclBinding], request: tuple[str, str, AclOperation, ResourceType, str]
) -> None:
    """When it says some resource of the type is allowed, one is (with the exact operation)."""
    principal, host, op, rtype, _ = request
    auth = authorizer(*added)
    who = KafkaPrincipal.parse(principal)
    if auth.authorize_by_resource_type(who, host, op, rtype):
        names = {b.pattern.name for b in added} | {"hardcode"}
        candidates = names | {n + "x" for n in names}
        assert any(auth.authorize(who, host, op, rtype, n) for n in candidates)
