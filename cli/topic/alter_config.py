"""``logd topic alter-config NAME -s KEY=VALUE ... [-d KEY ...]``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import key_value, open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the topic")
    parser.add_argument(
        "-s",
        "--set",
        dest="set",
        action="append",
        default=[],
        type=key_value("-s"),
        metavar="KEY=VALUE",
        help="set a config (repeatable)",
    )
    parser.add_argument(
        "-d",
        "--delete",
        dest="delete",
        action="append",
        default=[],
        metavar="KEY",
        help="return a config to its default (repeatable)",
    )


def run(app: App, args: argparse.Namespace) -> int:
    if not args.set and not args.delete:
        app.abort("nothing to change: give -s KEY=VALUE and/or -d KEY", status.USAGE)
    admin = open_admin(app)
    try:
        admin.alter_configs(args.name, set=dict(args.set), delete=list(args.delete))
    finally:
        admin.close()
    rows = [(k, v, "set") for k, v in args.set] + [(k, "", "default") for k in args.delete]
    app.emit(
        {"topic": args.name, "set": dict(args.set), "deleted": list(args.delete)},
        ["key", "value", "status"],
        rows,
    )
    return status.OK
