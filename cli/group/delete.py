"""``logd group delete G...``: delete groups without members, with their committed offsets;
asks first unless ``--yes``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("groups", nargs="+", metavar="GROUP", help="groups to delete")


def run(app: App, args: argparse.Namespace) -> int:
    names = ", ".join(args.groups)
    app.confirm(f"delete group(s) {names} and their committed offsets?")
    admin = open_admin(app)
    try:
        admin.delete_groups(args.groups)
    finally:
        admin.close()
    app.emit(
        [{"group": g, "status": "deleted"} for g in args.groups],
        ["group", "status"],
        [(g, "deleted") for g in args.groups],
    )
    return status.OK
