"""Changes to the cluster's users, ACLs and client quotas, as the broker asks the controller
for them (``MetadataStore.write_security``); the controller keeps them as metadata records
(``logd.cluster.controller.security_records``). Pure data."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Protocol

from logd.security.acl import AclBinding
from logd.security.quota import QuotaEntity
from logd.security.scram import ScramCredential, ScramMechanism

__all__ = [
    "AclAdd",
    "AclRemove",
    "QuotaSet",
    "ScramRemove",
    "ScramUpsert",
    "SecurityChange",
    "SecurityView",
]


@dataclass(frozen=True)
class ScramUpsert:
    name: str
    credential: ScramCredential


@dataclass(frozen=True)
class ScramRemove:
    name: str
    mechanism: ScramMechanism


@dataclass(frozen=True)
class AclAdd:
    binding: AclBinding


@dataclass(frozen=True)
class AclRemove:
    binding: AclBinding


@dataclass(frozen=True)
class QuotaSet:
    entity: QuotaEntity
    key: str
    value: float | None  # None removes the key


SecurityChange = ScramUpsert | ScramRemove | AclAdd | AclRemove | QuotaSet


class SecurityView(Protocol):
    """The users, ACLs and quotas the applied metadata holds (the controller's
    ``SecurityImage``); ``version`` grows with every change."""

    @property
    def credentials(self) -> Mapping[tuple[str, ScramMechanism], ScramCredential]: ...

    @property
    def acls(self) -> Set[AclBinding]: ...

    @property
    def quotas(self) -> Mapping[QuotaEntity, Mapping[str, float]]: ...

    @property
    def version(self) -> int: ...
