"""``logd security acl delete [filters]``: deletes the ACLs that match; asks unless ``--yes``
(and says how many it would delete)."""

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
    filters = filter_from_args(args)
    with open_security_admin(app) as admin:
        matching = {b for f in filters for b in admin.describe_acls(f)}
        if not matching:
            app.emit([], ACL_HEADERS, [])
            return status.OK
        app.confirm(f"delete {len(matching)} ACL(s)?")
        deleted = admin.delete_acls(filters)
    objects, rows = acl_rows(deleted)
    app.emit(objects, ACL_HEADERS, rows)
    return status.OK
