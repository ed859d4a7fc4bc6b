"""``logd registry compatibility get [S]``: the compatibility level that applies to subject
S (its own, else the global one), or the global level."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", nargs="?", metavar="S", help="the subject (default: global)")
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    level = open_registry(app, args).compatibility(args.subject)
    where = args.subject or "(global)"
    app.emit(
        {"subject": args.subject, "compatibility": level},
        ["subject", "compatibility"],
        [(where, level)],
    )
    return status.OK
