"""Kafka principals: ``Type:name`` (``User:alice``), as ACLs and ``super.users`` spell them.

Pure; shared by the authorizer, the authenticators and every front end that names a caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from logd.errors import InvalidPrincipalTypeError

__all__ = ["ANONYMOUS", "BROKER", "USER_TYPE", "WILDCARD_PRINCIPAL", "KafkaPrincipal"]

USER_TYPE = "User"
_NAME_MAX = 1024


@dataclass(frozen=True, order=True)
class KafkaPrincipal:
    """Who a request acts for. Kafka compares principals by type and name, case-sensitive."""

    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"

    @classmethod
    def user(cls, name: str) -> KafkaPrincipal:
        return cls(USER_TYPE, name)

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """``Type:name`` as Kafka's SecurityUtils.parseKafkaPrincipal reads it (split at the
        first colon; both halves non-empty)."""
        kind, sep, name = text.partition(":")
        if not sep or not kind or not name or len(text) > _NAME_MAX:
            raise InvalidPrincipalTypeError(
                f"principal {text[:80]!r} is not of the form 'Type:name' (User:alice)"
            )
        return cls(kind, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")
WILDCARD_PRINCIPAL = KafkaPrincipal(USER_TYPE, "*")

#: The broker itself, for what a front end keeps on its own behalf (MQTT's sessions and
#: retained messages, the positions it commits for a device). No authenticator yields it (they
#: all name a ``User``), and only brokers may forward a request naming it
#: (``logd.v1.ClusterForward``); the guard admits it to everything.
BROKER = KafkaPrincipal("Broker", "logd")
