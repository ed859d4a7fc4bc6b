"""``logd topic transfer-leadership NAME -p P [--to N]``: move a partition's leadership to
another in-sync replica (without ``--to``: back to its preferred replica), as Redpanda's
``rpk cluster partitions transfer-leadership`` and Kafka's ``kafka-leader-election
--election-type PREFERRED`` do. Returns once the new leader leads. As in Kafka, while the
brokers' ``auto.leader.rebalance.enable`` is true (the default) the controller moves a
leader that is not the preferred replica back to it within
``leader.imbalance.check.interval.ms`` (10 s); set it to false to keep leaders where
they are put."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def _id(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"{what} must be an int >= 0, got {text!r}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the topic")
    parser.add_argument(
        "-p", "--partition", type=_id("the partition"), required=True, help="the partition to move"
    )
    parser.add_argument(
        "--to",
        type=_id("the broker id"),
        default=None,
        metavar="BROKER",
        help="the broker to lead it (default: its preferred replica, the first of its "
        "replicas); with auto.leader.rebalance.enable (the default) the controller moves "
        "leaders back to preferred replicas every leader.imbalance.check.interval.ms",
    )


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        moved = admin.transfer_leadership(args.name, args.partition, args.to)
    finally:
        admin.close()
    if app.output_format == "json":
        app.json(
            {
                "topic": moved.topic,
                "partition": moved.partition,
                "leader": moved.leader,
                "leader_epoch": moved.leader_epoch,
            }
        )
    else:  # one line for people, as rpk's transfer-leadership prints
        app.print(
            f"{moved.topic}-{moved.partition}: broker {moved.leader} leads "
            f"(epoch {moved.leader_epoch})"
        )
    return status.OK
