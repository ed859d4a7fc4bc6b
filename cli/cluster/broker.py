"""``logd cluster broker decommission|recommission|status|unregister``: drain a broker's
replicas to the other brokers before it is stopped for good, undo that, follow it, and
remove the stopped broker from the cluster (issue 23), as Redpanda's
``rpk redpanda admin brokers decommission`` and Kafka's ``kafka-cluster unregister`` do.
A decommission returns once it is in the metadata; the controller then moves the broker's
partitions a few at a time (each a partition move: ``logd cluster partitions status``
lists them). When ``status`` shows 0 partitions left, the broker can be stopped with
nothing under-replicated; once stopped, ``unregister`` removes it for good (refused while
it is alive, not decommissioned, hosts a replica or is a controller voter).

One module for the four subcommands: they share their argument and their output."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from cli import status
from cli.app import App
from cli.common import open_admin

if TYPE_CHECKING:  # the client (grpc) is imported when a command runs: `logd --help` stays fast
    from logd.client import Admin

__all__ = ["add_node_arguments", "add_status_arguments", "on_broker", "run_decommission",
           "run_recommission", "run_status", "run_unregister"]  # fmt: skip


def _node(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a broker id is an int >= 0, got {text!r}")
    return value


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node_id", metavar="ID", type=_node, help="the broker's id")


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no arguments: every broker being decommissioned


def run_decommission(app: App, args: argparse.Namespace) -> int:
    from logd.client import Admin

    return on_broker(app, args.node_id, Admin.decommission_broker,
                     "decommissioning: its partitions move to the other brokers")  # fmt: skip


def run_recommission(app: App, args: argparse.Namespace) -> int:
    from logd.client import Admin

    return on_broker(app, args.node_id, Admin.recommission_broker,
                     "recommissioned: the moves off it go back")  # fmt: skip


def run_unregister(app: App, args: argparse.Namespace) -> int:
    from logd.client import Admin

    return on_broker(app, args.node_id, Admin.unregister_broker,
                     "unregistered: no longer part of the cluster")  # fmt: skip


def on_broker(app: App, node: int, call: Callable[[Admin, int], None], what: str) -> int:
    """``call(admin, node)``, then say ``what`` happened to broker ``node``."""
    admin = open_admin(app)
    try:
        call(admin, node)
    finally:
        admin.close()
    if app.output_format == "json":
        app.json({"broker": node, "status": what})
    else:
        app.print(f"broker {node}: {what}")
    return status.OK


def run_status(app: App, args: argparse.Namespace) -> int:
    del args
    admin = open_admin(app)
    try:
        brokers = admin.list_decommissions()
    finally:
        admin.close()
    if app.output_format == "json":
        app.json([{"broker": b.node_id, "partitions": b.replicas, "moving": b.moving,
                   "done": b.replicas == 0} for b in brokers])  # fmt: skip
        return status.OK
    if not brokers:
        app.print("no broker is being decommissioned")
        return status.OK
    app.table(
        ["broker", "partitions left", "moving", "state"],
        [[str(b.node_id), str(b.replicas), str(b.moving),
          "drained: it can be stopped" if b.replicas == 0 else "draining"]
         for b in brokers],
    )  # fmt: skip
    return status.OK
