"""``logd topic describe NAME``: summary, configs and, per partition, leader, epoch,
replicas, in-sync replicas, log start offset and high watermark (DESIGN.md)."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the topic")


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        (topic,) = admin.describe_topics([args.name])
    finally:
        admin.close()
    partitions = sorted(topic.partitions, key=lambda p: p.partition)
    configs = sorted(topic.configs.items())
    if app.output_format == "json":
        app.json(
            {
                "name": topic.name,
                "internal": topic.internal,
                "partitions": [
                    {
                        "partition": p.partition,
                        "leader": p.leader,
                        "epoch": p.leader_epoch,
                        "replicas": list(p.replicas),
                        "isr": list(p.isr),
                        "log_start_offset": p.log_start_offset,
                        "high_watermark": p.high_watermark,
                    }
                    for p in partitions
                ],
                "configs": {k: {"value": c.value, "default": c.is_default} for k, c in configs},
            }
        )
        return status.OK
    replication = max((len(p.replicas) for p in partitions), default=0)
    app.print("SUMMARY")
    app.print("=======")
    app.table(
        ["name", "partitions", "replicas", "internal"],
        [(topic.name, len(partitions), replication, str(topic.internal).lower())],
    )
    app.print()
    app.print("CONFIGS")
    app.print("=======")
    app.table(
        ["key", "value", "source"],
        [(k, c.value, "default" if c.is_default else "topic") for k, c in configs],
    )
    app.print()
    app.print("PARTITIONS")
    app.print("==========")
    app.table(
        ["partition", "leader", "epoch", "replicas", "in-sync", "log-start", "high-watermark"],
        [
            (
                p.partition,
                p.leader if p.leader >= 0 else "none",
                p.leader_epoch,
                list(p.replicas),
                list(p.isr),
                p.log_start_offset,
                p.high_watermark,
            )
            for p in partitions
        ],
    )
    return status.OK
