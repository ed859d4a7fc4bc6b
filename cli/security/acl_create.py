"""``logd security acl create --allow-principal User:x --operation read,describe --topic T``
(rpk's flags): one ACL per resource x principal x host x operation."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.security.common import (
    ACL_HEADERS,
    acl_rows,
    add_acl_flags,
    bindings_from_args,
    open_security_admin,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_acl_flags(parser, filtering=False)


def run(app: App, args: argparse.Namespace) -> int:
    bindings = bindings_from_args(app, args)
    with open_security_admin(app) as admin:
        admin.create_acls(bindings)
    objects, rows = acl_rows(bindings)
    app.emit(objects, ACL_HEADERS, rows)
    return status.OK
