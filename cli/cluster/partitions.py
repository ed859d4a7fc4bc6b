"""``logd cluster partitions move|cancel|status|balance``: move a partition's replicas to
other brokers, cancel a move, list the moves in progress, even out the replicas over the
brokers (issue 23), as Redpanda's ``rpk cluster partitions move|balance`` and Kafka's
``kafka-reassign-partitions`` do. A move returns once it is in the metadata; the
partition's leader then adds the new replicas as learners, lets them catch up, swaps the
voters and drops the old replicas (their data is deleted only then).

One module for the four subcommands: they share their flags and their output."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_balance_arguments", "add_cancel_arguments", "add_move_arguments",
           "add_status_arguments", "run_balance", "run_cancel", "run_move",
           "run_status"]  # fmt: skip


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


_UNITS = {"": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}  # fmt: skip


def _rate(text: str) -> int:
    """``10MB``, ``512KiB``, ``1000000`` (a ``/s`` suffix allowed): bytes a second."""
    raw = text.strip().lower().removesuffix("/s")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = _UNITS.get(raw[len(digits) :].strip())
    try:
        value = int(digits)
    except ValueError:
        value = -1
    if unit is None or value < 0:
        raise argparse.ArgumentTypeError(
            f"--throttle takes bytes a second like 10MB or 500KiB/s, got {text!r}"
        )
    return value * unit


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
    _throttle(parser)


def _throttle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--throttle",
        type=_rate,
        default=0,
        metavar="BYTES/s",
        help="the joining replicas catch up at most this fast (10MB, 512KiB; default: no limit)",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"--max-moves takes a count >= 1, got {text!r}")
    return value


def add_balance_arguments(parser: argparse.ArgumentParser) -> None:
    _throttle(parser)
    parser.add_argument("--max-moves", type=_count, default=0, metavar="N",
                        help="start at most N moves (default: the broker's, 64)")  # fmt: skip


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    _topic_partition(parser)


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", metavar="TOPIC", nargs="*", help="only these topics")


def run_move(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        admin.move_partition(args.name, args.partition, args.to, throttle=args.throttle)
    finally:
        admin.close()
    throttled = f" at most {args.throttle} bytes/s" if args.throttle else ""
    return _said(app, args, "moving to " + ",".join(map(str, args.to)) + throttled)


def run_balance(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        moves = admin.balance_partitions(throttle=args.throttle, max_moves=args.max_moves)
    finally:
        admin.close()
    if app.output_format == "json":
        app.json([{"topic": m.topic, "partition": m.partition, "target": list(m.target),
                   "change": "leader" if m.leader_only else "replicas", "throttle": m.throttle}
                  for m in moves])  # fmt: skip
    elif not moves:
        app.print("balanced: nothing to move")
    else:
        app.table(
            ["topic", "partition", "change", "to"],
            [[m.topic, str(m.partition), "leader" if m.leader_only else "replicas",
              ",".join(map(str, m.target))] for m in moves],
        )  # fmt: skip
    return status.OK


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
                 "adding": list(m.adding), "removing": list(m.removing),
                 "throttle": m.throttle,
                 "bytes_left": m.bytes_left if m.bytes_left >= 0 else None}
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
        ["topic", "partition", "target", "adding", "removing", "throttle B/s", "bytes left"],
        [[m.topic, str(m.partition), ids(m.target), ids(m.adding), ids(m.removing),
          str(m.throttle or "-"), str(m.bytes_left) if m.bytes_left >= 0 else "?"]
         for m in moves],
    )  # fmt: skip
    return status.OK
