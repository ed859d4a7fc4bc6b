"""``logd security user delete NAME [--mechanism M]``: every credential of the user unless
one mechanism is named. Asks first unless ``--yes``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.security.common import open_security_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--mechanism", type=str.upper, choices=("SCRAM-SHA-256", "SCRAM-SHA-512"))


def run(app: App, args: argparse.Namespace) -> int:
    app.confirm(f"delete user {args.name}?")
    with open_security_admin(app) as admin:
        admin.delete_user(args.name, [args.mechanism] if args.mechanism else None)
    app.emit({"user": args.name, "status": "deleted"}, ["user", "status"], [(args.name, "deleted")])
    return status.OK
