"""Users, ACLs and client quotas in the controller's metadata log (issue 15): the records'
encoding, their checks, and :class:`SecurityImage`, the part of the metadata image they
build. Every broker applies the same records, so every broker holds the same users, ACLs
and quotas (``logd.broker.security`` reads them from here).

Users are stored as SCRAM credentials (salt, StoredKey, ServerKey, iterations), as Kafka's
``UserScramCredentialRecord``: never a password, never the salted password.

Pure; not thread-safe (owned with the image by the controller store).
"""

from __future__ import annotations

import logging

from logd.errors import InvalidRequestError, LogdError
from logd.metadata.security import (
    AclAdd,
    AclRemove,
    ScramRemove,
    ScramUpsert,
    SecurityChange,
)
from logd.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from logd.security.quota import QuotaEntity, QuotaKind
from logd.security.scram import ITERATIONS_MAX, ITERATIONS_MIN, ScramCredential, ScramMechanism
from logd.v1 import cluster_pb2

__all__ = [
    "SECURITY_KINDS",
    "SecurityImage",
    "acl_record",
    "change_record",
    "quota_record",
    "remove_scram_record",
    "scram_record",
    "validate_security_record",
]

_log = logging.getLogger(__name__)
SECURITY_KINDS = frozenset({"scram", "remove_scram", "acl", "remove_acl", "quota"})
_NAME_MAX = 1024

MetadataRecord = cluster_pb2.MetadataRecord


def scram_record(name: str, credential: ScramCredential) -> MetadataRecord:
    return MetadataRecord(
        scram=cluster_pb2.ScramCredentialRecord(
            name=name,
            mechanism=int(credential.mechanism),
            salt=credential.salt,
            stored_key=credential.stored_key,
            server_key=credential.server_key,
            iterations=credential.iterations,
        )
    )


def remove_scram_record(name: str, mechanism: ScramMechanism) -> MetadataRecord:
    return MetadataRecord(
        remove_scram=cluster_pb2.RemoveScramCredentialRecord(name=name, mechanism=int(mechanism))
    )


def acl_record(binding: AclBinding, *, remove: bool = False) -> MetadataRecord:
    p, e = binding.pattern, binding.entry
    proto = cluster_pb2.AclRecord(
        resource_type=int(p.resource_type),
        resource_name=p.name,
        pattern_type=int(p.pattern_type),
        principal=e.principal,
        host=e.host,
        operation=int(e.operation),
        permission=int(e.permission),
    )
    return MetadataRecord(remove_acl=proto) if remove else MetadataRecord(acl=proto)


def quota_record(entity: QuotaEntity, key: str, value: float | None) -> MetadataRecord:
    proto = cluster_pb2.ClientQuotaRecord(key=key, value=value or 0.0, remove=value is None)
    if entity.user is not None:
        proto.user = entity.user
    if entity.client_id is not None:
        proto.client_id = entity.client_id
    return MetadataRecord(quota=proto)


def change_record(change: SecurityChange) -> MetadataRecord:
    """The metadata record of one change the broker asked for."""
    if isinstance(change, ScramUpsert):
        return scram_record(change.name, change.credential)
    if isinstance(change, ScramRemove):
        return remove_scram_record(change.name, change.mechanism)
    if isinstance(change, AclAdd | AclRemove):
        return acl_record(change.binding, remove=isinstance(change, AclRemove))
    return quota_record(change.entity, change.key, change.value)


def _binding(proto: cluster_pb2.AclRecord) -> AclBinding:
    try:
        binding = AclBinding(
            ResourcePattern(
                ResourceType(proto.resource_type),
                proto.resource_name,
                PatternType(proto.pattern_type),
            ),
            AccessControlEntry(
                proto.principal,
                proto.host,
                AclOperation(proto.operation),
                AclPermissionType(proto.permission),
            ),
        )
    except ValueError as exc:
        raise InvalidRequestError(f"bad ACL record: {exc}") from None
    binding.validate()
    return binding


def _credential(proto: cluster_pb2.ScramCredentialRecord) -> ScramCredential:
    try:
        mechanism = ScramMechanism(proto.mechanism)
    except ValueError:
        raise InvalidRequestError(f"unknown SCRAM mechanism {proto.mechanism}") from None
    size = len(mechanism.digest(b""))
    if not (ITERATIONS_MIN <= proto.iterations <= ITERATIONS_MAX) or not proto.salt:
        raise InvalidRequestError("a SCRAM credential needs a salt and 4096..16384 iterations")
    if len(proto.stored_key) != size or len(proto.server_key) != size:
        raise InvalidRequestError("a SCRAM credential's keys have the wrong length")
    return ScramCredential(
        mechanism, proto.salt, proto.stored_key, proto.server_key, proto.iterations
    )


def _entity(proto: cluster_pb2.ClientQuotaRecord) -> QuotaEntity:
    user = proto.user if proto.HasField("user") else None
    client_id = proto.client_id if proto.HasField("client_id") else None
    QuotaKind.from_key(proto.key)
    if not proto.remove and not proto.value > 0:
        raise InvalidRequestError(f"quota {proto.key} must be positive")
    return QuotaEntity(user, client_id)


def validate_security_record(kind: str, record: MetadataRecord) -> None:
    """The checks a forwarded write passes before it reaches every broker's image."""
    if kind == "scram":
        _credential(record.scram)
        name = record.scram.name
    elif kind == "remove_scram":
        name = record.remove_scram.name
    elif kind in ("acl", "remove_acl"):
        _binding(getattr(record, kind))
        name = "-"
    else:
        _entity(record.quota)
        name = "-"
    if not name or len(name) > _NAME_MAX:
        raise InvalidRequestError("a user name is 1..1024 characters")


class SecurityImage:
    """Users' credentials, ACLs, quotas; ``version`` grows with every change."""

    def __init__(self) -> None:
        self.credentials: dict[tuple[str, ScramMechanism], ScramCredential] = {}
        self.acls: set[AclBinding] = set()
        self.quotas: dict[QuotaEntity, dict[str, float]] = {}
        self.version = 0

    def apply(self, kind: str, record: MetadataRecord) -> None:
        try:
            self._apply(kind, record)
        except LogdError as exc:  # checked before proposing; a bad one is skipped alike
            _log.error("metadata %s record skipped: %s", kind, exc)
            return
        self.version += 1

    def _apply(self, kind: str, record: MetadataRecord) -> None:
        if kind == "scram":
            self.credentials[(record.scram.name, ScramMechanism(record.scram.mechanism))] = (
                _credential(record.scram)
            )
        elif kind == "remove_scram":
            r = record.remove_scram
            self.credentials.pop((r.name, ScramMechanism(r.mechanism)), None)
        elif kind == "acl":
            self.acls.add(_binding(record.acl))
        elif kind == "remove_acl":
            self.acls.discard(_binding(record.remove_acl))
        else:
            entity, q = _entity(record.quota), record.quota
            values = self.quotas.setdefault(entity, {})
            if q.remove:
                values.pop(q.key, None)
                if not values:
                    del self.quotas[entity]
            else:
                values[q.key] = q.value

    def records(self) -> list[MetadataRecord]:
        """The image as records, for a metadata snapshot."""
        out = [scram_record(name, c) for (name, _), c in sorted(self.credentials.items())]
        out.extend(acl_record(b) for b in sorted(self.acls))
        for entity in sorted(self.quotas, key=lambda e: (e.user or "", e.client_id or "")):
            out.extend(quota_record(entity, k, v) for k, v in sorted(self.quotas[entity].items()))
        return out
