"""``logd topic list``: name, partitions and replication factor of every topic."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i", "--internal", action="store_true", help="include internal topics (__...)"
    )


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        topics = sorted(admin.list_topics(include_internal=args.internal), key=lambda t: t.name)
    finally:
        admin.close()
    app.emit(
        [
            {
                "name": t.name,
                "partitions": t.partitions,
                "replicas": t.replication_factor,
                "internal": t.internal,
            }
            for t in topics
        ],
        ["name", "partitions", "replicas"],
        [(t.name, t.partitions, t.replication_factor) for t in topics],
    )
    return status.OK
