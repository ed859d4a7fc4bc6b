"""Kafka's ACL vocabulary: resource types, operations, pattern types, permissions, bindings and
the filters DescribeAcls/DeleteAcls match them with.

Numbers are Kafka's (org.apache.kafka.common.acl/resource), so a Kafka-protocol front end maps
them one to one. logd adds one resource type, the schema-registry ``SUBJECT`` (code 100, never
sent to a Kafka client). Pure; the authorizer (``authorizer.py``) evaluates bindings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from logd.errors import InvalidRequestError
from logd.security.principal import KafkaPrincipal

__all__ = [
    "CLUSTER_NAME",
    "OPERATIONS_BY_RESOURCE",
    "WILDCARD",
    "AccessControlEntry",
    "AclBinding",
    "AclBindingFilter",
    "AclOperation",
    "AclPermissionType",
    "PatternType",
    "ResourcePattern",
    "ResourceType",
    "parse_enum",
]

WILDCARD = "*"
E = TypeVar("E", bound=enum.IntEnum)
CLUSTER_NAME = "kafka-cluster"


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7
    SUBJECT = 100  # logd: a schema-registry subject


class AclOperation(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class PatternType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclPermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


_Op = AclOperation
# The operations each resource type takes (Kafka's docs table "Operations and Resources");
# the authorizer does not need it, the CLI and `authorized_operations` answers do.
OPERATIONS_BY_RESOURCE: dict[ResourceType, frozenset[AclOperation]] = {
    ResourceType.TOPIC: frozenset(
        {_Op.READ, _Op.WRITE, _Op.CREATE, _Op.DELETE, _Op.ALTER, _Op.DESCRIBE}
        | {_Op.DESCRIBE_CONFIGS, _Op.ALTER_CONFIGS}
    ),
    ResourceType.GROUP: frozenset({_Op.READ, _Op.DESCRIBE, _Op.DELETE}),
    ResourceType.CLUSTER: frozenset(
        {_Op.CREATE, _Op.CLUSTER_ACTION, _Op.DESCRIBE_CONFIGS, _Op.ALTER_CONFIGS}
        | {_Op.IDEMPOTENT_WRITE, _Op.ALTER, _Op.DESCRIBE}
    ),
    ResourceType.TRANSACTIONAL_ID: frozenset({_Op.DESCRIBE, _Op.WRITE}),
    ResourceType.SUBJECT: frozenset(
        {_Op.READ, _Op.WRITE, _Op.DELETE, _Op.DESCRIBE, _Op.DESCRIBE_CONFIGS, _Op.ALTER_CONFIGS}
    ),
}


def parse_enum(cls: type[E], text: str) -> E:
    """``transactional-id``, ``TransactionalId``, ``TRANSACTIONAL_ID`` and ``5`` all name one
    member, as Kafka's tools accept them; anything else is an InvalidRequestError."""
    key = text.strip().replace("-", "_").upper()
    if key.lstrip("-").isdigit():
        try:
            return cls(int(key))
        except ValueError:
            pass
    compact = {m.name.replace("_", ""): m for m in cls}
    found = cls.__members__.get(key) or compact.get(key.replace("_", ""))
    if found is None or found.name == "UNKNOWN":
        names = ", ".join(m.name.lower() for m in cls if m.name not in ("UNKNOWN",))
        raise InvalidRequestError(f"unknown {cls.__name__} {text!r} (one of: {names})")
    return found


@dataclass(frozen=True, order=True)
class ResourcePattern:
    """A resource an ACL names: type, name (``*`` with LITERAL = every name) and pattern."""

    resource_type: ResourceType
    name: str
    pattern_type: PatternType = PatternType.LITERAL

    def matches_name(self, name: str) -> bool:
        """Whether this (concrete, LITERAL or PREFIXED) pattern covers the resource ``name``."""
        if self.pattern_type == PatternType.PREFIXED:
            return name.startswith(self.name)
        return self.name in (name, WILDCARD)


@dataclass(frozen=True, order=True)
class AccessControlEntry:
    """Who (principal, host), what (operation), and allow or deny."""

    principal: str
    host: str
    operation: AclOperation
    permission: AclPermissionType


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ACL: a resource pattern bound to an entry. What the controller stores."""

    pattern: ResourcePattern
    entry: AccessControlEntry

    def validate(self) -> None:
        """Refuse what CreateAcls refuses in Kafka (AclControlManager.validateNewAcl)."""
        pattern, entry = self.pattern, self.entry
        if pattern.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise InvalidRequestError("an ACL needs a concrete resource type")
        if pattern.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
            raise InvalidRequestError("an ACL's pattern type is literal or prefixed")
        if entry.operation in (AclOperation.ANY, AclOperation.UNKNOWN):
            raise InvalidRequestError("an ACL needs a concrete operation")
        if entry.permission not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
            raise InvalidRequestError("an ACL's permission is allow or deny")
        if not pattern.name:
            raise InvalidRequestError("an ACL's resource name is empty")
        if pattern.resource_type == ResourceType.CLUSTER and pattern.name != CLUSTER_NAME:
            raise InvalidRequestError(f"the only valid CLUSTER resource name is {CLUSTER_NAME}")
        if not entry.host:
            raise InvalidRequestError("an ACL's host is empty (use * for any host)")
        KafkaPrincipal.parse(entry.principal)


@dataclass(frozen=True)
class AclBindingFilter:
    """What DescribeAcls/DeleteAcls match: ANY/None are wildcards; pattern type MATCH also
    finds the ACLs that would apply to the named resource (literal, ``*`` and prefixes)."""

    resource_type: ResourceType = ResourceType.ANY
    name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = AclOperation.ANY
    permission: AclPermissionType = AclPermissionType.ANY

    def matches(self, binding: AclBinding) -> bool:
        return self._matches_pattern(binding.pattern) and self._matches_entry(binding.entry)

    def _matches_pattern(self, pattern: ResourcePattern) -> bool:
        if self.resource_type not in (ResourceType.ANY, pattern.resource_type):
            return False
        wild_types = (PatternType.ANY, PatternType.MATCH, pattern.pattern_type)
        if self.pattern_type not in wild_types:
            return False
        if self.name is None:
            return True
        if self.pattern_type in (PatternType.ANY, pattern.pattern_type):
            return self.name == pattern.name
        return pattern.matches_name(self.name)  # MATCH

    def _matches_entry(self, entry: AccessControlEntry) -> bool:
        return (
            self.principal in (None, entry.principal)
            and self.host in (None, entry.host)
            and self.operation in (AclOperation.ANY, entry.operation)
            and self.permission in (AclPermissionType.ANY, entry.permission)
        )
