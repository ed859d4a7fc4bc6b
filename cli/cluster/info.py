"""``logd cluster info``: the cluster id, the brokers (with their disks' free space and what
their logs hold) and the controller leader."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli import status
from cli.app import App
from cli.common import open_admin

if TYPE_CHECKING:
    from logd.client.types import BrokerInfo

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
                    {
                        "id": b.node_id,
                        "host": b.host,
                        "port": b.port,
                        "rack": b.rack or None,
                        "alive": b.alive,
                        "disk_free_bytes": b.disk_free_bytes,
                        "disk_total_bytes": b.disk_total_bytes,
                        "disk_reserve_bytes": b.disk_reserve_bytes,
                        "log_bytes": b.log_bytes,
                        "degraded": b.degraded,
                        "warning": b.warning,
                    }
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
        ["id", "host", "port", "rack", "alive", "disk free", "reserve", "logs", "state"],
        [
            (
                f"{b.node_id}*" if b.node_id == info.controller_id else b.node_id,
                b.host,
                b.port,
                b.rack or "-",
                str(b.alive).lower(),
                _disk_free(b),
                _size(b.disk_reserve_bytes),
                _size(b.log_bytes),
                "degraded" if b.degraded else "low space" if b.warning else "ok",
            )
            for b in brokers
        ],
    )
    for b in brokers:
        if b.degraded:
            app.print(f"node {b.node_id} degraded: {b.degraded}")
    return status.OK


def _size(n: int) -> str:
    if n < 0:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _disk_free(b: BrokerInfo) -> str:
    free, total = b.disk_free_bytes, b.disk_total_bytes
    if free < 0 or total <= 0:
        return "-"
    return f"{_size(free)} of {_size(total)}"


def _node(node_id: int) -> str:
    return "none" if node_id < 0 else str(node_id)
