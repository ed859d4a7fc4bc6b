"""``logd security quota describe [--name user=alice] [--default client-id]``: the quotas of
the entities that match (every one without flags); ``<default>`` names a default."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.security.common import open_security_admin

__all__ = ["add_arguments", "add_entity_flags", "entity_from_args", "run"]

_KINDS = ("user", "client-id")


def add_entity_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", action="append", default=[], metavar="user=NAME|client-id=ID")
    parser.add_argument("--default", action="append", default=[], choices=_KINDS)


def entity_from_args(app: App, args: argparse.Namespace) -> tuple[str | None, str | None]:
    parts: dict[str, str] = dict.fromkeys(args.default, "")
    for item in args.name:
        kind, sep, value = item.partition("=")
        if not sep or kind not in _KINDS or not value:
            app.abort(f"--name takes user=NAME or client-id=ID, got {item!r}")
        parts[kind] = value
    return parts.get("user"), parts.get("client-id")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_entity_flags(parser)


def _show(name: str | None) -> str:
    return "<default>" if name == "" else (name or "-")


def run(app: App, args: argparse.Namespace) -> int:
    user, client_id = entity_from_args(app, args)
    with open_security_admin(app) as admin:
        found = admin.describe_quotas(user, client_id)
    rows = [
        (_show(e.user), _show(e.client_id), key, value)
        for e, values in found
        for key, value in sorted(values.items())
    ]
    app.emit(
        [{"user": u, "client_id": c, "key": k, "value": v} for u, c, k, v in rows],
        ["user", "client-id", "key", "value"],
        rows,
    )
    return status.OK
