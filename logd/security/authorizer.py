"""The one authorizer every front end's requests go through: Kafka's StandardAuthorizer rules.

Rules (Kafka's ``StandardAuthorizerData``, the KRaft authorizer, reproduced exactly):

1. A principal listed in ``super.users`` may do everything.
2. The ACLs that *apply to the resource* are those of its type whose pattern covers its name:
   LITERAL with the same name, LITERAL ``*``, PREFIXED with a prefix of the name.
3. Of those, an ACL *matches the request* when its principal is the caller's or ``User:*``,
   its host is the caller's or ``*``, and its operation is the requested one or ALL. An ALLOW
   ACL also matches the *implied* operations: READ, WRITE, DELETE, ALTER imply DESCRIBE;
   ALTER_CONFIGS implies DESCRIBE_CONFIGS. A DENY ACL denies only what it names (a DENY READ
   leaves DESCRIBE alone).
4. Any matching DENY wins. Otherwise any matching ALLOW allows.
5. Nothing matched: allowed only when *no ACL at all applies to the resource* and
   ``allow.everyone.if.no.acl.found`` is true.

The ACL set comes from the controller's metadata; the broker applies each change here. Pure,
not thread-safe: owned by the broker's event loop, mutated only when metadata is applied.
Lookups are dictionary hits: one for the literal name, one for ``*``, one per distinct
prefix length present (a topic name is at most 249 characters).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from logd.security.acl import (
    WILDCARD,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from logd.security.principal import WILDCARD_PRINCIPAL, KafkaPrincipal

__all__ = ["IMPLIES_DESCRIBE", "IMPLIES_DESCRIBE_CONFIGS", "Authorizer", "acl_verdict"]

_Op = AclOperation
IMPLIES_DESCRIBE = frozenset({_Op.DESCRIBE, _Op.READ, _Op.WRITE, _Op.DELETE, _Op.ALTER})
IMPLIES_DESCRIBE_CONFIGS = frozenset({_Op.DESCRIBE_CONFIGS, _Op.ALTER_CONFIGS})
_WILDCARD_USER = str(WILDCARD_PRINCIPAL)


def acl_verdict(
    binding: AclBinding, principal: str, host: str, operation: AclOperation
) -> bool | None:
    """True (allows), False (denies) or None (does not match): rule 3 for one ACL whose
    resource pattern is already known to apply."""
    entry = binding.entry
    if entry.principal not in (principal, _WILDCARD_USER):
        return None
    if entry.host not in (WILDCARD, host):
        return None
    allow = entry.permission == AclPermissionType.ALLOW
    if entry.operation != AclOperation.ALL:
        if allow and operation == AclOperation.DESCRIBE:
            if entry.operation not in IMPLIES_DESCRIBE:
                return None
        elif allow and operation == AclOperation.DESCRIBE_CONFIGS:
            if entry.operation not in IMPLIES_DESCRIBE_CONFIGS:
                return None
        elif entry.operation != operation:
            return None
    return allow


class Authorizer:
    """Kafka's ACL rules over an indexed ACL set. Not thread-safe; see the module docstring."""

    def __init__(
        self,
        *,
        super_users: Iterable[str] = (),
        allow_everyone_if_no_acl_found: bool = False,
    ) -> None:
        self.super_users = frozenset(str(KafkaPrincipal.parse(p)) for p in super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        self._literal: dict[tuple[ResourceType, str], set[AclBinding]] = {}
        self._prefixed: dict[tuple[ResourceType, str], set[AclBinding]] = {}
        self._prefix_lengths: dict[ResourceType, Counter[int]] = {}
        self._count = 0

    # -- the ACL set ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def add(self, binding: AclBinding) -> bool:
        """Adds one ACL; False when it was already there (CreateAcls is idempotent)."""
        pattern = binding.pattern
        table = self._table(pattern.pattern_type)
        bucket = table.setdefault((pattern.resource_type, pattern.name), set())
        if binding in bucket:
            return False
        bucket.add(binding)
        self._count += 1
        if pattern.pattern_type == PatternType.PREFIXED:
            lengths = self._prefix_lengths.setdefault(pattern.resource_type, Counter())
            lengths[len(pattern.name)] += 1
        return True

    def remove(self, binding: AclBinding) -> bool:
        pattern = binding.pattern
        table = self._table(pattern.pattern_type)
        key = (pattern.resource_type, pattern.name)
        bucket = table.get(key)
        if bucket is None or binding not in bucket:
            return False
        bucket.discard(binding)
        if not bucket:
            del table[key]
        self._count -= 1
        if pattern.pattern_type == PatternType.PREFIXED:
            lengths = self._prefix_lengths[pattern.resource_type]
            lengths[len(pattern.name)] -= 1
            if not lengths[len(pattern.name)]:
                del lengths[len(pattern.name)]
        return True

    def bindings(self) -> Iterator[AclBinding]:
        for table in (self._literal, self._prefixed):
            for bucket in table.values():
                yield from bucket

    def describe(self, flt: AclBindingFilter) -> list[AclBinding]:
        """The ACLs a DescribeAcls filter selects, in a stable order."""
        return sorted(b for b in self.bindings() if flt.matches(b))

    def _table(self, pattern_type: PatternType) -> dict[tuple[ResourceType, str], set[AclBinding]]:
        if pattern_type == PatternType.PREFIXED:
            return self._prefixed
        assert pattern_type == PatternType.LITERAL, pattern_type
        return self._literal

    # -- decisions --------------------------------------------------------------------------

    def applicable(self, resource_type: ResourceType, name: str) -> Iterator[AclBinding]:
        """Rule 2: every ACL whose resource pattern covers (resource_type, name)."""
        yield from self._literal.get((resource_type, name), ())
        if name != WILDCARD:
            yield from self._literal.get((resource_type, WILDCARD), ())
        for length in self._prefix_lengths.get(resource_type, ()):
            if length <= len(name):
                yield from self._prefixed.get((resource_type, name[:length]), ())

    def authorize(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> bool:
        """Whether ``principal`` connecting from ``host`` may do ``operation`` on the resource."""
        who = str(principal)
        if who in self.super_users:
            return True
        any_acl = allowed = False
        for binding in self.applicable(resource_type, name):
            any_acl = True
            verdict = acl_verdict(binding, who, host, operation)
            if verdict is False:
                return False
            allowed = allowed or verdict is True
        if allowed:
            return True
        return not any_acl and self.allow_everyone_if_no_acl_found

    def authorized_operations(
        self,
        principal: KafkaPrincipal,
        host: str,
        resource_type: ResourceType,
        name: str,
        operations: Iterable[AclOperation],
    ) -> frozenset[AclOperation]:
        """The subset of ``operations`` allowed (Metadata's ``authorized_operations``)."""
        return frozenset(
            op for op in operations if self.authorize(principal, host, op, resource_type, name)
        )

    def authorize_by_resource_type(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool:
        """May ``principal`` do ``operation`` on at least one resource of the type? Kafka's
        ``Authorizer.authorizeByResourceType`` (KIP-679: an idempotent producer needs WRITE on
        some topic): exact operation or ALL, no implied operations; a literal ``*`` DENY denies;
        an ALLOW counts unless a literal DENY of its name or a DENY prefix of it covers it."""
        if self.authorize(principal, host, operation, resource_type, "hardcode"):
            return True
        who = str(principal)
        deny_literal: set[str] = set()
        deny_prefixed: set[str] = set()
        allows: list[ResourcePattern] = []
        wildcard_allow = False
        for binding in self.bindings():
            pattern, entry = binding.pattern, binding.entry
            if pattern.resource_type != resource_type:
                continue
            if entry.host not in (WILDCARD, host) or entry.principal not in (who, _WILDCARD_USER):
                continue
            if entry.operation not in (operation, AclOperation.ALL):
                continue
            literal = pattern.pattern_type == PatternType.LITERAL
            if entry.permission == AclPermissionType.DENY:
                if literal and pattern.name == WILDCARD:
                    return False
                (deny_literal if literal else deny_prefixed).add(pattern.name)
            elif literal and pattern.name == WILDCARD:
                wildcard_allow = True
            else:
                allows.append(pattern)
        if wildcard_allow:
            return True
        for pattern in allows:
            if pattern.pattern_type == PatternType.LITERAL and pattern.name in deny_literal:
                continue
            prefixes = (pattern.name[:i] for i in range(1, len(pattern.name) + 1))
            if not any(p in deny_prefixed for p in prefixes):
                return True
        return False
