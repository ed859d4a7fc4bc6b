"""The security half of the front-end seam (``BrokerSeam.security``): what a front end asks
to authenticate a caller, to learn how long a caller is throttled, and to administer users,
ACLs and quotas. One object for every front end, so a password, a certificate or a SCRAM
exchange means the same on every door, every failure is counted and delayed alike
(KIP-306), and every admin call passes the guard.

Without security services (a broker built with none: tests, tools) authentication is off,
listings show everything and the admin calls answer SECURITY_DISABLED.

Owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Sequence

from logd.broker.security.authn import FAILED_AUTHENTICATION_DELAY_MS
from logd.broker.security.guard import CallerLike
from logd.broker.security.services import SecurityServices
from logd.errors import LogdError, SecurityDisabledError
from logd.security.acl import (
    OPERATIONS_BY_RESOURCE,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    ResourceType,
)
from logd.security.admin_types import (
    QuotaAlteration,
    ScramDeletion,
    ScramUpsertion,
    UserDescription,
)
from logd.security.quota import QuotaEntity, QuotaKind
from logd.security.scram import ScramServer

__all__ = ["SecuritySeam"]

_log = logging.getLogger(__name__)


class SecuritySeam:
    def __init__(self, services: SecurityServices | None) -> None:
        self._services = services
        #: Connections to the internal service refused as not a broker, by listener.
        self.refused_peers: Counter[str] = Counter()

    def note_refused_peer(self, listener: str) -> None:
        self.refused_peers[listener] += 1

    def _on(self) -> SecurityServices:
        if self._services is None:
            raise SecurityDisabledError("security is not configured on this broker")
        return self._services

    # -- authentication -----------------------------------------------------------------------

    @property
    def authentication_required(self) -> bool:
        """Callers must prove who they are (``--auth sasl`` or required client certs)."""
        return self._services is not None and self._services.settings.authenticates

    @property
    def sasl_enabled(self) -> bool:
        return self._services is not None and self._services.settings.auth.value == "sasl"

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        return self._services.settings.sasl_mechanisms if self.sasl_enabled else ()  # type: ignore[union-attr]

    async def failed(self, listener: str, how: str, address: str = "") -> None:
        """Counts (and logs) a failed authentication and waits
        ``FAILED_AUTHENTICATION_DELAY_MS`` before the front end answers it (KIP-306)."""
        if self._services is not None:
            self._services.authn.failed(listener, how)
        _log_failure(listener, address, how)
        await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_MS / 1000.0)

    async def authenticate_password(
        self, username: str, password: str, listener: str, address: str = ""
    ) -> str:
        """The principal (``User:NAME``) of a user and password; on failure (counted,
        logged, delayed) SaslAuthenticationFailedError."""
        authn = self._on().authn
        try:
            return authn.password(username, password, listener)
        except LogdError:
            _log_failure(listener, address, "password")
            await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_MS / 1000.0)
            raise

    def scram_server(self, mechanism: str) -> ScramServer:
        """A new server-side SCRAM exchange (UnsupportedSaslMechanismError when disabled)."""
        return self._on().authn.scram(mechanism)

    def scram_principal(self, server: ScramServer, listener: str) -> str:
        return self._on().authn.scram_done(server, listener)

    async def certificate_principal(self, pem: bytes, listener: str, address: str = "") -> str:
        """``User:<mapped DN>`` of a verified client certificate."""
        try:
            return self._on().authn.certificate(pem, listener)
        except LogdError:
            _log_failure(listener, address, "certificate")
            await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_MS / 1000.0)
            raise

    def certificate_principal_now(self, der: bytes, listener: str) -> str | None:
        """A connection's principal from its verified client certificate (DER, as Python's
        ``ssl`` gives it), when the connection is made; None (counted) when no mapping rule
        applies or authentication is off."""
        if self._services is None or not self._services.settings.authenticates:
            return None
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
        try:
            return self._services.authn.certificate(pem, listener)
        except LogdError:
            return None

    @property
    def failures(self) -> dict[tuple[str, str], int]:
        """Failed authentications by (listener, how), for metrics and tests."""
        return dict(self._services.authn.failures) if self._services is not None else {}

    @property
    def refused(self) -> dict[tuple[str, str], int]:
        """Requests refused by authorization, by (listener, action)."""
        return dict(self._services.guard.refused) if self._services is not None else {}

    @property
    def throttles(self) -> dict[str, tuple[int, int]]:
        """Requests throttled by a quota and the milliseconds they were held, by quota kind
        (``producer_byte_rate`` ...), for metrics."""
        if self._services is None:
            return {}
        guard = self._services.guard
        return {kind: (n, guard.throttled_ms[kind]) for kind, n in guard.throttled.items()}

    # -- authorization and quotas ---------------------------------------------------------------

    def visible(self, caller: CallerLike, action: str, names: Iterable[str]) -> list[str]:
        if self._services is None:
            return list(names)
        return self._services.guard.visible(caller, action, names)

    def authorized_operations(
        self, caller: CallerLike, resource_type: ResourceType, name: str
    ) -> frozenset[AclOperation]:
        """What ``caller`` may do to the resource, by the one authorizer (Kafka's
        ``authorized_operations`` answers); everything it takes without security."""
        if self._services is None:
            return OPERATIONS_BY_RESOURCE[resource_type]
        return self._services.guard.authorized_operations(caller, resource_type, name)

    def refusals(
        self, caller: CallerLike, action: str, names: Iterable[str]
    ) -> dict[str, LogdError]:
        """Each of ``names`` the caller may not use for ``action``, with its error (Kafka's
        per-item answers); raises what refuses the whole request (see ``Guard``)."""
        if self._services is None:
            return {}
        return self._services.guard.refusals(caller, action, names)

    def record(self, caller: CallerLike, kind: QuotaKind, value: float) -> int:
        """Records what a request moved; the throttle time in ms (0: within quota)."""
        if self._services is None:
            return 0
        return self._services.guard.record(caller, kind, value)

    def throttle_ms(self, caller: CallerLike) -> int:
        """How long the caller's next request must wait (its quota identity is muted)."""
        return 0 if self._services is None else self._services.guard.throttle_ms(caller)

    # -- administration -------------------------------------------------------------------------

    def _admit(self, caller: CallerLike, action: str) -> SecurityServices:
        services = self._on()
        services.guard.admit(caller, action)
        return services

    def describe_users(
        self, caller: CallerLike, names: Sequence[str] | None = None
    ) -> list[UserDescription]:
        return self._admit(caller, "describe_user_scram_credentials").admin.describe_users(names)

    async def alter_users(
        self,
        caller: CallerLike,
        upsertions: Sequence[ScramUpsertion],
        deletions: Sequence[ScramDeletion],
    ) -> dict[str, LogdError | None]:
        admin = self._admit(caller, "alter_user_scram_credentials").admin
        return await admin.alter_users(upsertions, deletions)

    def describe_acls(self, caller: CallerLike, flt: AclBindingFilter) -> list[AclBinding]:
        return self._admit(caller, "describe_acls").admin.describe_acls(flt)

    async def create_acls(
        self, caller: CallerLike, bindings: Sequence[AclBinding]
    ) -> list[LogdError | None]:
        return await self._admit(caller, "create_acls").admin.create_acls(bindings)

    async def delete_acls(
        self, caller: CallerLike, filters: Sequence[AclBindingFilter]
    ) -> list[list[AclBinding]]:
        return await self._admit(caller, "delete_acls").admin.delete_acls(filters)

    def describe_quotas(
        self,
        caller: CallerLike,
        user: str | None = None,
        client_id: str | None = None,
        *,
        strict: bool = False,
    ) -> list[tuple[QuotaEntity, dict[str, float]]]:
        admin = self._admit(caller, "describe_client_quotas").admin
        return admin.describe_quotas(user, client_id, strict=strict)

    async def alter_quotas(
        self,
        caller: CallerLike,
        alterations: Sequence[QuotaAlteration],
        *,
        validate_only: bool = False,
    ) -> list[LogdError | None]:
        admin = self._admit(caller, "alter_client_quotas").admin
        return await admin.alter_quotas(alterations, validate_only=validate_only)


def _log_failure(listener: str, address: str, how: str) -> None:
    """One ``authentication_failed`` line (structured with ``--log-format json``)."""
    _log.info(
        "failed authentication on %s from %s (%s)", listener, address or "?", how,
        extra={"event": "authentication_failed", "listener": listener,
               "address": address, "how": how},
    )  # fmt: skip
