"""The security types as logd's gRPC messages (``logd.v1.security``) and back: one
translation, used by the gRPC front end and by the client, so the two cannot disagree.

Pure (generated message classes only).
"""

from __future__ import annotations

from logd.errors import InvalidRequestError
from logd.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from logd.security.quota import QuotaEntity
from logd.v1 import security_pb2

__all__ = [
    "acl_from_proto",
    "acl_to_proto",
    "entity_from_proto",
    "entity_to_proto",
    "filter_from_proto",
    "filter_to_proto",
]


def acl_to_proto(binding: AclBinding) -> security_pb2.Acl:
    p, e = binding.pattern, binding.entry
    return security_pb2.Acl(
        resource_type=int(p.resource_type),
        resource_name=p.name,
        pattern_type=int(p.pattern_type),
        principal=e.principal,
        host=e.host,
        operation=int(e.operation),
        permission=int(e.permission),
    )


def acl_from_proto(proto: security_pb2.Acl) -> AclBinding:
    """InvalidRequestError for numbers Kafka does not define (validation is the admin's)."""
    try:
        return AclBinding(
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
        raise InvalidRequestError(f"bad ACL: {exc}") from None


def filter_to_proto(flt: AclBindingFilter) -> security_pb2.AclFilter:
    proto = security_pb2.AclFilter(
        resource_type=int(flt.resource_type),
        pattern_type=int(flt.pattern_type),
        operation=int(flt.operation),
        permission=int(flt.permission),
    )
    for field in ("principal", "host"):
        value = getattr(flt, field)
        if value is not None:
            setattr(proto, field, value)
    if flt.name is not None:
        proto.resource_name = flt.name
    return proto


def filter_from_proto(proto: security_pb2.AclFilter) -> AclBindingFilter:
    try:
        return AclBindingFilter(
            resource_type=ResourceType(proto.resource_type or ResourceType.ANY),
            name=proto.resource_name if proto.HasField("resource_name") else None,
            pattern_type=PatternType(proto.pattern_type or PatternType.ANY),
            principal=proto.principal if proto.HasField("principal") else None,
            host=proto.host if proto.HasField("host") else None,
            operation=AclOperation(proto.operation or AclOperation.ANY),
            permission=AclPermissionType(proto.permission or AclPermissionType.ANY),
        )
    except ValueError as exc:
        raise InvalidRequestError(f"bad ACL filter: {exc}") from None


def entity_to_proto(entity: QuotaEntity) -> security_pb2.QuotaEntity:
    proto = security_pb2.QuotaEntity()
    if entity.user is not None:
        proto.user = entity.user
    if entity.client_id is not None:
        proto.client_id = entity.client_id
    return proto


def entity_from_proto(proto: security_pb2.QuotaEntity) -> QuotaEntity:
    return QuotaEntity(
        proto.user if proto.HasField("user") else None,
        proto.client_id if proto.HasField("client_id") else None,
    )
