"""What a node's operator turned on, with Kafka's and Redpanda's names in the TOML file.

``--auth none|sasl`` (``sasl`` turns on SCRAM-SHA-256/512 and PLAIN on the Kafka listener and
the same credentials on the others), ``--super-users User:a,User:b`` (``super.users``),
``allow.everyone.if.no.acl.found`` (false once authentication is on),
``ssl.principal.mapping.rules`` and ``sasl.enabled.mechanisms``.

Authorization is enforced whenever the node authenticates its callers (``--auth sasl``, or
TLS with ``--tls-client-auth required``): with nobody authenticated every caller is
``User:ANONYMOUS`` and ACLs would only get in the way, as in Kafka's PLAINTEXT default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from logd.errors import InvalidConfigError
from logd.security.principal import KafkaPrincipal
from logd.security.principal_mapping import PrincipalMapper

__all__ = ["SASL_MECHANISMS", "AuthMode", "SecuritySettings"]

SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")


class AuthMode(enum.Enum):
    NONE = "none"
    SASL = "sasl"

    @classmethod
    def parse(cls, text: str) -> AuthMode:
        for member in cls:
            if member.value == text.strip().lower():
                return member
        raise InvalidConfigError(f"auth: {text!r} is not one of none, sasl")


@dataclass(frozen=True)
class SecuritySettings:
    auth: AuthMode = AuthMode.NONE
    #: TLS with client certificates required: the certificate names the principal.
    mtls: bool = False
    super_users: tuple[str, ...] = ()
    allow_everyone_if_no_acl_found: bool | None = None
    principal_mapping_rules: str = "DEFAULT"
    sasl_mechanisms: tuple[str, ...] = SASL_MECHANISMS
    #: Kafka's quota.window.num and quota.window.size.seconds.
    quota_window_num: int = 11
    quota_window_size_s: int = 1

    def __post_init__(self) -> None:
        for principal in self.super_users:
            try:
                KafkaPrincipal.parse(principal)
            except Exception:
                raise InvalidConfigError(
                    f"super.users: {principal!r} is not of the form User:NAME"
                ) from None
        unknown = set(self.sasl_mechanisms) - set(SASL_MECHANISMS)
        if unknown:
            raise InvalidConfigError(
                f"sasl.enabled.mechanisms: {sorted(unknown)}"
                f" (supported: {', '.join(SASL_MECHANISMS)})"
            )
        PrincipalMapper(self.principal_mapping_rules)  # raises InvalidConfigError
        if not (2 <= self.quota_window_num <= 100 and 1 <= self.quota_window_size_s <= 3600):
            raise InvalidConfigError(
                "quota.window.num must be 2..100 and quota.window.size.seconds 1..3600"
            )

    @property
    def authenticates(self) -> bool:
        return self.auth is AuthMode.SASL or self.mtls

    @property
    def enforces_acls(self) -> bool:
        return self.authenticates

    @property
    def allow_if_no_acl(self) -> bool:
        """Kafka's default is false; logd's too once authentication is on (DESIGN.md)."""
        if self.allow_everyone_if_no_acl_found is not None:
            return self.allow_everyone_if_no_acl_found
        return not self.authenticates
