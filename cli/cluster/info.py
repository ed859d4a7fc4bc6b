"""``logd cluster info``: the cluster id, the brokers and the controller leader."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no flags of its own


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        info = admin.describe_cluster()
    finally:
        admin.close()
    brokers = sorted(info.brokers, key=lambda b: b.node_id)
    if app.output_format == "json":
        app.json(
            {
                "cluster_id": info.cluster_id,
                "controller_id": info.controller_id,
                "brokers": [
                    {"id": b.node_id, "host": b.host, "port": b.port, "alive": b.alive}
                    for b in brokers
                ],
            }
        )
        return status.OK
    app.print("CLUSTER")
    app.print("=======")
    app.print(f"{info.cluster_id} (controller: {_node(info.controller_id)})")
    app.print()
    app.print("BROKERS")
    app.print("=======")
    app.table(
        ["id", "host", "port", "alive"],
        [
            (
                f"{b.node_id}*" if b.node_id == info.controller_id else b.node_id,
                b.host,
                b.port,
                str(b.alive).lower(),
            )
            for b in brokers
        ],
    )
    return status.OK


def _node(node_id: int) -> str:
    return "none" if node_id < 0 else str(node_id)
