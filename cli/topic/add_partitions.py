"""``logd topic add-partitions NAME -n TOTAL``: warns that keys will map elsewhere."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the topic")
    parser.add_argument(
        "-n", "--num", dest="total", type=int, required=True, help="the new total partition count"
    )


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        (topic,) = admin.describe_topics([args.name])
        current = len(topic.partitions)
        if args.total <= current:
            app.abort(
                f"topic {args.name} has {current} partitions; -n must be larger "
                "(partitions can be added, never removed)"
            )
        app.info(
            f"warning: keyed records map to partition mmh3(key) % partitions; going from "
            f"{current} to {args.total} partitions sends most keys to a different partition "
            "from now on (records already written stay where they are)"
        )
        app.confirm(f"add {args.total - current} partitions to {args.name}?")
        admin.create_partitions(args.name, args.total)
    finally:
        admin.close()
    app.emit(
        {"topic": args.name, "partitions": args.total},
        ["topic", "partitions"],
        [(args.name, args.total)],
    )
    return status.OK
