"""What the ``logd security`` verbs share: the client, ACL flags in rpk's spelling, output."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cli.app import App

if TYPE_CHECKING:
    from logd.client import SecurityAdmin
    from logd.security.acl import AclBinding, AclBindingFilter

__all__ = [
    "ACL_HEADERS",
    "acl_rows",
    "add_acl_flags",
    "bindings_from_args",
    "filter_from_args",
    "open_security_admin",
]

ACL_HEADERS = [
    "principal", "host", "resource-type", "resource-name", "resource-pattern-type",
    "operation", "permission",
]  # fmt: skip
_RESOURCE_FLAGS = (
    ("topic", "TOPIC"),
    ("group", "GROUP"),
    ("transactional_id", "TRANSACTIONAL_ID"),
    ("subject", "SUBJECT"),
)


def open_security_admin(app: App) -> SecurityAdmin:
    from logd.client import SecurityAdmin

    return SecurityAdmin(brokers=app.brokers, **app.client_security)


def _many(
    parser: argparse.ArgumentParser, *flags: str, metavar: str, dest: str | None = None
) -> None:
    if dest is None:
        parser.add_argument(*flags, metavar=metavar, action="append", default=[])
    else:
        parser.add_argument(*flags, dest=dest, metavar=metavar, action="append", default=[])


def add_acl_flags(parser: argparse.ArgumentParser, *, filtering: bool) -> None:
    for flag in ("--allow-principal", "--deny-principal"):
        _many(parser, flag, metavar="User:NAME")
    for flag in ("--allow-host", "--deny-host"):
        _many(parser, flag, metavar="HOST")
    parser.add_argument(
        "--operation",
        "--operations",
        metavar="OP[,OP...]",
        default="" if filtering else None,
        required=not filtering,
        help="read, write, create, delete, alter, describe, describe_configs, all, ...",
    )
    _many(parser, "--topic", metavar="NAME")
    _many(parser, "--group", metavar="NAME")
    _many(parser, "--transactional-id", metavar="ID")
    _many(parser, "--registry-subject", "--subject", metavar="SUBJECT", dest="subject")
    parser.add_argument("--cluster", action="store_true", help="the cluster resource")
    parser.add_argument(
        "--resource-pattern-type",
        default="any" if filtering else "literal",
        choices=("any", "match", "literal", "prefixed") if filtering else ("literal", "prefixed"),
    )


def _resources(args: argparse.Namespace) -> list[tuple[Any, str | None]]:
    from logd.security.acl import CLUSTER_NAME, ResourceType

    out = [
        (ResourceType[kind], name) for flag, kind in _RESOURCE_FLAGS for name in getattr(args, flag)
    ]
    if args.cluster:
        out.append((ResourceType.CLUSTER, CLUSTER_NAME))
    return out


def _operations(text: str) -> list[Any]:
    from logd.security.acl import AclOperation, parse_enum

    return [parse_enum(AclOperation, op) for op in text.split(",") if op.strip()]


def _who(args: argparse.Namespace) -> list[tuple[str, Any, str]]:
    """(principal, permission, host) for each --allow/--deny principal."""
    from logd.security.acl import AclPermissionType

    out: list[tuple[str, Any, str]] = []
    for flag, permission in (("allow", AclPermissionType.ALLOW), ("deny", AclPermissionType.DENY)):
        hosts = getattr(args, f"{flag}_host") or ["*"]
        out.extend((p, permission, h) for p in getattr(args, f"{flag}_principal") for h in hosts)
    return out


def bindings_from_args(app: App, args: argparse.Namespace) -> list[AclBinding]:
    from logd.security.acl import (
        AccessControlEntry,
        AclBinding,
        PatternType,
        ResourcePattern,
        parse_enum,
    )

    resources, who = _resources(args), _who(args)
    if not resources or not who:
        app.abort(
            "name a resource (--topic, --group, --cluster, --transactional-id,"
            " --registry-subject) and a principal (--allow-principal/--deny-principal)"
        )
    pattern = parse_enum(PatternType, args.resource_pattern_type)
    return [
        AclBinding(
            ResourcePattern(rtype, name or "", pattern),
            AccessControlEntry(principal, host, op, perm),
        )
        for rtype, name in resources
        for principal, perm, host in who
        for op in _operations(args.operation)
    ]


def filter_from_args(args: argparse.Namespace) -> list[AclBindingFilter]:
    """One filter per (resource, principal, operation) named; one match-all when none."""
    from logd.security.acl import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        PatternType,
        ResourceType,
        parse_enum,
    )

    pattern = parse_enum(PatternType, args.resource_pattern_type)
    resources = _resources(args) or [(ResourceType.ANY, None)]
    who: list[tuple[str | None, Any, str | None]] = [
        (p, perm, None if h == "*" else h) for p, perm, h in _who(args)
    ]
    ops = _operations(args.operation) or [AclOperation.ANY]
    return [
        AclBindingFilter(rtype, name, pattern, principal, host, op, perm)
        for rtype, name in resources
        for principal, perm, host in who or [(None, AclPermissionType.ANY, None)]
        for op in ops
    ]


def acl_rows(bindings: list[AclBinding]) -> tuple[list[dict[str, str]], list[list[str]]]:
    rows = [
        [
            b.entry.principal,
            b.entry.host,
            b.pattern.resource_type.name,
            b.pattern.name,
            b.pattern.pattern_type.name,
            b.entry.operation.name,
            b.entry.permission.name,
        ]
        for b in bindings
    ]
    return [dict(zip(ACL_HEADERS, r, strict=True)) for r in rows], rows
