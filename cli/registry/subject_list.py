"""``logd registry subject list [--deleted] [--prefix P]``: the registry's subjects."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deleted", action="store_true", help="include soft-deleted subjects")
    parser.add_argument("--prefix", default="", metavar="P", help="only subjects starting so")
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    subjects = open_registry(app, args).subjects(prefix=args.prefix, deleted=args.deleted)
    app.emit(subjects, ["subject"], [(s,) for s in subjects])
    return status.OK
