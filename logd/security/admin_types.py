"""The requests and answers of security administration (users, quotas), shared by the
broker's admin, the seam and every front end that exposes it. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from logd.errors import LogdError
from logd.security.quota import QuotaEntity
from logd.security.scram import ScramMechanism

__all__ = ["QuotaAlteration", "ScramDeletion", "ScramUpsertion", "UserDescription"]


@dataclass(frozen=True)
class ScramUpsertion:
    """Kafka's AlterUserScramCredentials upsertion: the client salted the password."""

    name: str
    mechanism: ScramMechanism
    iterations: int
    salt: bytes
    salted_password: bytes


@dataclass(frozen=True)
class ScramDeletion:
    name: str
    mechanism: ScramMechanism


@dataclass(frozen=True)
class UserDescription:
    name: str
    #: (mechanism, iterations) per credential; empty with ``error`` for an unknown user.
    credentials: tuple[tuple[ScramMechanism, int], ...] = ()
    error: LogdError | None = None


@dataclass(frozen=True)
class QuotaAlteration:
    entity: QuotaEntity
    #: key -> new value, None removes it.
    values: tuple[tuple[str, float | None], ...]
