"""The gate every front end's requests pass through (the seam's ``Gate``): authentication
required, Kafka's ACLs, and client quotas with throttling.

``admit(caller, action, resources)`` is called by the seam before each call: it refuses an
unauthenticated caller when the node authenticates, and any resource the caller may not use
for ``action`` (``actions.ACTIONS``), with the resource type's Kafka error. ``visible(...)``
is the filtering form for listings. Quotas: ``record_*`` measure what a request moved and
return the throttle time; the caller's quota identity is then muted that long —
``throttle_ms(caller)`` tells a front end how long to hold the caller's next request (the
Kafka listener stops reading the connection; gRPC holds the call), so a throttled client
cannot escape by opening another connection.

Every refusal is counted under (listener, action). Not thread-safe; the broker's event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from typing import Protocol

from logd.broker.security.actions import ACTIONS, ERRORS, Need
from logd.broker.security.settings import SecuritySettings
from logd.broker.security.state import SecurityState
from logd.clock import Clock
from logd.errors import (
    ClusterAuthorizationFailedError,
    LogdError,
    SaslAuthenticationFailedError,
)
from logd.security.acl import CLUSTER_NAME, OPERATIONS_BY_RESOURCE, AclOperation, ResourceType
from logd.security.principal import ANONYMOUS, BROKER, KafkaPrincipal
from logd.security.quota import QuotaKind

__all__ = ["CallerLike", "Guard", "host_of"]

_MUTED_MAX = 100_000
_BROKER = str(BROKER)


class CallerLike(Protocol):
    """What the guard reads of the seam's ``Caller``."""

    @property
    def principal(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def listener(self) -> str: ...
    @property
    def address(self) -> str: ...


def host_of(address: str) -> str:
    """The host an ACL's ``host`` field is compared with, from ``1.2.3.4:5``,
    ``[::1]:5`` or gRPC's ``ipv4:1.2.3.4:5`` / ``ipv6:[::1]:5``."""
    for prefix in ("ipv4:", "ipv6:"):
        address = address.removeprefix(prefix)
    if address.startswith("["):
        return address[1:].partition("]")[0]
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() else address


class Guard:
    def __init__(self, settings: SecuritySettings, state: SecurityState, clock: Clock) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        self.refused: Counter[tuple[str, str]] = Counter()
        #: Requests throttled, and the milliseconds they were held, by quota kind (metrics).
        self.throttled: Counter[str] = Counter()
        self.throttled_ms: Counter[str] = Counter()
        self._muted_until: dict[tuple[str, str], float] = {}

    # -- authorization ------------------------------------------------------------------------

    def authorize(
        self, caller: CallerLike, operation: AclOperation, resource_type: ResourceType, name: str
    ) -> bool:
        if not self.settings.enforces_acls:
            return True
        principal = KafkaPrincipal.parse(caller.principal)
        return self.state.authorizer.authorize(
            principal, host_of(caller.address), operation, resource_type, name
        )

    def authorized_operations(
        self, caller: CallerLike, resource_type: ResourceType, name: str
    ) -> frozenset[AclOperation]:
        """The operations of ``resource_type`` the caller may do on ``name`` (Kafka's
        ``authorizedOperations``: every supported operation when ACLs are not enforced)."""
        supported = OPERATIONS_BY_RESOURCE[resource_type]
        if not self.settings.enforces_acls or caller.principal == _BROKER:
            return supported
        principal = KafkaPrincipal.parse(caller.principal)
        return self.state.authorizer.authorized_operations(
            principal, host_of(caller.address), resource_type, name, supported
        )

    def admit(self, caller: CallerLike, action: str, resources: Collection[str] = ()) -> None:
        """Raises the typed error for the first thing ``caller`` may not do; counts the
        request against the caller's ``request_rate`` quota. The broker's own caller
        (``principal.BROKER``) may do anything and has no quota."""
        if caller.principal == _BROKER:
            return
        if self.settings.enforces_acls:
            self._authorize(caller, action, resources)
        self.record(caller, QuotaKind.REQUEST, 1)

    def _authorize(self, caller: CallerLike, action: str, resources: Collection[str]) -> None:
        self._require_authenticated(caller, action)
        need = ACTIONS.get(action)
        if need is None:
            self._refuse(caller, action)
            raise ClusterAuthorizationFailedError(f"no authorization rule for {action!r}")
        if need.resource_type is ResourceType.CLUSTER:
            resources = (CLUSTER_NAME,)
        if action == "init_producer_id":
            self._admit_idempotent(caller)
            return
        if need.filter or need.authenticated_only or self._cluster_allows(caller, need):
            return
        for name in resources:
            if not self.authorize(caller, need.operation, need.resource_type, name):
                self._refuse(caller, action)
                raise ERRORS[need.resource_type](
                    f"{caller.principal} may not {need.operation.name} "
                    f"{need.resource_type.name.lower()} {name!r}"
                )

    def refusals(
        self, caller: CallerLike, action: str, names: Iterable[str]
    ) -> dict[str, LogdError]:
        """Kafka's per-item check: each of ``names`` the caller may not use for ``action``,
        with its typed error (each counted as a refusal). What refuses the whole request
        still raises: no authentication, no rule for the action, a cluster action denied."""
        if not self.settings.enforces_acls:
            return {}
        self._authorize(caller, action, ())
        need = ACTIONS[action]
        if need.resource_type is ResourceType.CLUSTER:
            return {}
        out: dict[str, LogdError] = {}
        for name in dict.fromkeys(names):
            try:
                self._authorize(caller, action, (name,))
            except ERRORS[need.resource_type] as exc:
                out[name] = exc
        return out

    def visible(self, caller: CallerLike, action: str, names: Iterable[str]) -> list[str]:
        """The ``names`` the caller may see for a listing action (the rest are left out)."""
        names = list(names)
        if not self.settings.enforces_acls or caller.principal == _BROKER:
            return names
        self._require_authenticated(caller, action)
        need = ACTIONS[action]
        if self._cluster_allows(caller, need):
            return names
        return [n for n in names if self.authorize(caller, need.operation, need.resource_type, n)]

    def _cluster_allows(self, caller: CallerLike, need: Need) -> bool:
        return need.cluster_operation is not None and self.authorize(
            caller, need.cluster_operation, ResourceType.CLUSTER, CLUSTER_NAME
        )

    def _admit_idempotent(self, caller: CallerLike) -> None:
        """Kafka (KIP-679): IDEMPOTENT_WRITE on the cluster, or WRITE on some topic."""
        if self.authorize(
            caller, AclOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME
        ):
            return
        principal = KafkaPrincipal.parse(caller.principal)
        if self.state.authorizer.authorize_by_resource_type(
            principal, host_of(caller.address), AclOperation.WRITE, ResourceType.TOPIC
        ):
            return
        self._refuse(caller, "init_producer_id")
        raise ClusterAuthorizationFailedError(
            f"{caller.principal} may not produce idempotently (needs IdempotentWrite on the"
            " cluster or Write on a topic)"
        )

    def _require_authenticated(self, caller: CallerLike, action: str) -> None:
        if self.settings.authenticates and caller.principal == str(ANONYMOUS):
            self._refuse(caller, action)
            raise SaslAuthenticationFailedError(
                f"authentication required on the {caller.listener or 'this'} listener"
            )

    def _refuse(self, caller: CallerLike, action: str) -> None:
        self.refused[(caller.listener, action)] += 1

    # -- quotas -------------------------------------------------------------------------------

    def _identity(self, caller: CallerLike) -> tuple[str, str]:
        user = caller.principal.partition(":")[2] or caller.principal
        return user, caller.client_id

    def record(self, caller: CallerLike, kind: QuotaKind, value: float) -> int:
        """Records what a request moved (bytes; for REQUEST, percent-seconds of handler
        time) and returns the throttle time in ms; mutes the caller that long."""
        if caller.principal == _BROKER:
            return 0
        user, client_id = self._identity(caller)
        now = self.clock.monotonic()
        throttle = self.state.quotas.record(kind, user, client_id, value, int(now * 1000))
        if throttle > 0:
            self.throttled[kind.value] += 1
            self.throttled_ms[kind.value] += throttle
            key = (user, client_id)
            until = now + throttle / 1000.0
            self._muted_until[key] = max(until, self._muted_until.get(key, 0.0))
            if len(self._muted_until) > _MUTED_MAX:
                self._muted_until = {k: v for k, v in self._muted_until.items() if v > now}
        return throttle

    def throttle_ms(self, caller: CallerLike) -> int:
        """How long the caller is still muted (0: it may go on)."""
        until = self._muted_until.get(self._identity(caller))
        if until is None:
            return 0
        left = until - self.clock.monotonic()
        if left <= 0:
            self._muted_until.pop(self._identity(caller), None)
            return 0
        return max(1, round(left * 1000))
