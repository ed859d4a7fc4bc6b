"""``logd topic delete NAME...``: asks first unless ``--yes``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="topics to delete")


def run(app: App, args: argparse.Namespace) -> int:
    names = ", ".join(args.names)
    app.confirm(f"delete topic(s) {names} and every record in them?")
    admin = open_admin(app)
    try:
        admin.delete_topics(args.names)
    finally:
        admin.close()
    app.emit(
        [{"topic": n, "status": "deleted"} for n in args.names],
        ["topic", "status"],
        [(n, "deleted") for n in args.names],
    )
    return status.OK
