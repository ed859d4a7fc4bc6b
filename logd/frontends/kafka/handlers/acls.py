"""CreateAcls (key 30), DescribeAcls (key 29), DeleteAcls (key 31), v1-3: Kafka's ACL
administration over the seam's security half (the guard checks ALTER / DESCRIBE on the
cluster). Numbers are Kafka's own (``logd.security.acl``)."""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message
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

__all__ = ["create", "delete", "describe"]


def _enum(cls: Any, value: int) -> Any:
    try:
        return cls(value)
    except ValueError:
        return cls.UNKNOWN


def _binding(c: Any) -> AclBinding:
    return AclBinding(
        ResourcePattern(
            _enum(ResourceType, c.resource_type),
            c.resource_name,
            _enum(PatternType, getattr(c, "resource_pattern_type", PatternType.LITERAL)),
        ),
        AccessControlEntry(
            c.principal,
            c.host,
            _enum(AclOperation, c.operation),
            _enum(AclPermissionType, c.permission_type),
        ),
    )


def _filter(f: Any) -> AclBindingFilter:
    return AclBindingFilter(
        _enum(ResourceType, f.resource_type_filter),
        f.resource_name_filter,
        _enum(PatternType, getattr(f, "pattern_type_filter", PatternType.LITERAL)),
        f.principal_filter,
        f.host_filter,
        _enum(AclOperation, f.operation),
        _enum(AclPermissionType, f.permission_type),
    )


def _acl_fields(b: AclBinding) -> dict[str, Any]:
    return {
        "principal": b.entry.principal,
        "host": b.entry.host,
        "operation": int(b.entry.operation),
        "permission_type": int(b.entry.permission),
    }


async def create(ctx: RequestContext, request: Any) -> dict[str, Any]:
    bindings = [_binding(c) for c in request.creations]
    try:
        errors = await ctx.server.broker.security.create_acls(ctx.caller, bindings)
    except LogdError as exc:
        errors = [exc] * len(bindings)
    return {
        "throttle_time": 0,
        "results": [
            {"error_code": error_code(e), "error_message": error_message(e)} for e in errors
        ],
    }


def describe(ctx: RequestContext, request: Any) -> dict[str, Any]:
    try:
        found = ctx.server.broker.security.describe_acls(
            ctx.caller, _filter(request_filter(request))
        )
    except LogdError as exc:
        return {
            "throttle_time": 0,
            "error_code": error_code(exc),
            "error_message": error_message(exc),
            "resources": [],
        }
    resources: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for b in found:
        key = (int(b.pattern.resource_type), b.pattern.name, int(b.pattern.pattern_type))
        resources.setdefault(key, []).append(_acl_fields(b))
    return {
        "throttle_time": 0,
        "error_code": 0,
        "error_message": None,
        "resources": [
            {"resource_type": t, "resource_name": n, "pattern_type": p, "acls": acls}
            for (t, n, p), acls in resources.items()
        ],
    }


class _RequestFilter:
    """DescribeAcls carries its filter's fields at the top level."""

    def __init__(self, request: Any) -> None:
        self.resource_type_filter = request.resource_type_filter
        self.resource_name_filter = request.resource_name_filter
        self.pattern_type_filter = getattr(request, "pattern_type_filter", PatternType.LITERAL)
        self.principal_filter = request.principal_filter
        self.host_filter = request.host_filter
        self.operation = request.operation
        self.permission_type = request.permission_type


def request_filter(request: Any) -> _RequestFilter:
    return _RequestFilter(request)


async def delete(ctx: RequestContext, request: Any) -> dict[str, Any]:
    filters = [_filter(f) for f in request.filters]
    try:
        matched = await ctx.server.broker.security.delete_acls(ctx.caller, filters)
    except LogdError as exc:
        return {
            "throttle_time": 0,
            "filter_results": [
                {
                    "error_code": error_code(exc),
                    "error_message": error_message(exc),
                    "matching_acls": [],
                }
                for _ in filters
            ],
        }
    return {
        "throttle_time": 0,
        "filter_results": [
            {
                "error_code": 0,
                "error_message": None,
                "matching_acls": [
                    {
                        "error_code": 0,
                        "error_message": None,
                        "resource_type": int(b.pattern.resource_type),
                        "resource_name": b.pattern.name,
                        "pattern_type": int(b.pattern.pattern_type),
                        **_acl_fields(b),
                    }
                    for b in found
                ],
            }
            for found in matched
        ],
    }
