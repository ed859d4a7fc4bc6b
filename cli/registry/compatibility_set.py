"""``logd registry compatibility set [S] LEVEL``: set subject S's compatibility level, or
the global one. LEVEL: BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL,
FULL_TRANSITIVE or NONE (any case)."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]

LEVELS = (
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="+", metavar="[S] LEVEL", help="subject and level")
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    if len(args.words) > 2:
        app.abort("expected [S] LEVEL", status.USAGE)
    *subject, level = args.words
    if level.upper() not in LEVELS:
        app.abort(f"unknown compatibility level {level!r}: one of {', '.join(LEVELS)}")
    registry = open_registry(app, args)
    chosen = registry.set_compatibility(level.upper(), subject[0] if subject else None)
    where = subject[0] if subject else "(global)"
    app.emit(
        {"subject": subject[0] if subject else None, "compatibility": chosen},
        ["subject", "compatibility"],
        [(where, chosen)],
    )
    return status.OK
