"""``logd cluster partitions move|cancel|status``: move a partition's replicas to other
brokers, cancel a move, list the moves in progress (issue 23), as Redpanda's ``rpk cluster
partitions move`` and Kafka's ``kafka-reassign-partitions`` do. A move returns once it is
in the metadata; the partition's leader then adds the new replicas as learners, lets them
catch up, swaps the voters and drops the old replicas (their data is deleted only then).

One module for the three subcommands: they share their flags and their output."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_cancel_arguments", "add_move_arguments", "add_status_arguments",
           "run_cancel", "run_move", "run_status"]  # fmt: skip


def _partition(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"the partition must be an int >= 0, got {text!r}")
    return value


def _brokers(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        ids = [-1]
    if not ids or any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError(f"--to takes broker ids like 1,2,3, got {text!r}")
    return ids


def _topic_partition(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="TOPIC", help="the topic")
    parser.add_argument("-p", "--partition", type=_partition, required=True, help="the partition")


def add_move_arguments(parser: argparse.ArgumentParser) -> None:
    _topic_partition(parser)
    parser.add_argument(
        "--to",
        type=_brokers,
        required=True,
        metavar="IDS",
        help="the target brokers, comma-separated; the first is the preferred leader",
    )


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    _topic_partition(parser)


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", metavar="TOPIC", nargs="*", help="only these topics")


def run_move(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        admin.move_partition(args.name, args.partition, args.to)
    finally:
        admin.close()
    return _said(app, args, "moving to " + ",".join(map(str, args.to)))


def run_cancel(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        admin.cancel_partition_move(args.name, args.partition)
    finally:
        admin.close()
    return _said(app, args, "move cancelled: moving back")


def _said(app: App, args: argparse.Namespace, what: str) -> int:
    if app.output_format == "json":
        app.json({"topic": args.name, "partition": args.partition, "status": what})
    else:
        app.print(f"{args.name}-{args.partition}: {what}")
    return status.OK


def run_status(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        moves = admin.list_partition_moves(args.topics)
    finally:
        admin.close()
    if app.output_format == "json":
        app.json(
            [
                {"topic": m.topic, "partition": m.partition, "target": list(m.target),
                 "adding": list(m.adding), "removing": list(m.removing)}
                for m in moves
            ]
        )  # fmt: skip
        return status.OK
    if not moves:
        app.print("no partition is moving")
        return status.OK

    def ids(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values)) or "-"

    app.table(
        ["topic", "partition", "target", "adding", "removing"],
        [[m.topic, str(m.partition), ids(m.target), ids(m.adding), ids(m.removing)]
         for m in moves],
    )  # fmt: skip
    return status.OK
