"""``logd security acl list [filters]``: the ACLs that match (every one without filters)."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.security.common import (
    ACL_HEADERS,
    acl_rows,
    add_acl_flags,
    filter_from_args,
    open_security_admin,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_acl_flags(parser, filtering=True)


def run(app: App, args: argparse.Namespace) -> int:
    with open_security_admin(app) as admin:
        found = sorted({b for f in filter_from_args(args) for b in admin.describe_acls(f)})
    objects, rows = acl_rows(found)
    app.emit(objects, ACL_HEADERS, rows)
    return status.OK
