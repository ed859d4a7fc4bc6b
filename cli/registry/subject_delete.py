"""``logd registry subject delete S [--permanent]``: a soft delete (the versions stay
readable by id, the subject can be registered again), or with ``--permanent`` for good (a
soft delete first when needed). Asks first unless ``--yes``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", metavar="S", help="the subject")
    parser.add_argument(
        "--permanent", action="store_true", help="delete for good (ids are never reused)"
    )
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    how = "permanently" if args.permanent else "(soft)"
    app.confirm(f"delete subject {args.subject} {how}?")
    versions = open_registry(app, args).delete_subject(args.subject, permanent=args.permanent)
    state = "deleted permanently" if args.permanent else "deleted"
    app.emit(
        {"subject": args.subject, "versions": versions, "permanent": args.permanent},
        ["subject", "versions", "status"],
        [(args.subject, versions, state)],
    )
    return status.OK
