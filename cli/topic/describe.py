"""``logd topic describe NAME``: summary, configs and, per partition, leader, epoch,
replicas, in-sync replicas, log start offset and high watermark (DESIGN.md); for a
compacted topic also the cleanable ratio (the dirty share of what the cleaner may clean)
and when the replica that answered was last cleaned (issue 16)."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

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
                        **_cleaner_fields(p),
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
    compacted = any(p.cleanable_ratio >= 0 for p in partitions)
    extra = ["cleanable-ratio", "last-clean"] if compacted else []
    app.table(
        ["partition", "leader", "epoch", "replicas", "in-sync", "log-start", "high-watermark",
         *extra],
        [
            (
                p.partition,
                p.leader if p.leader >= 0 else "none",
                p.leader_epoch,
                list(p.replicas),
                list(p.isr),
                p.log_start_offset,
                p.high_watermark,
                *((f"{max(p.cleanable_ratio, 0.0):.2f}", _when(p.last_clean_ms))
                  if compacted else ()),
            )
            for p in partitions
        ],
    )  # fmt: skip
    return status.OK


def _cleaner_fields(p: Any) -> dict[str, Any]:
    if p.cleanable_ratio < 0:
        return {}
    return {"cleanable_ratio": round(p.cleanable_ratio, 4), "last_clean_ms": p.last_clean_ms}


def _when(ms: int) -> str:
    if ms < 0:
        return "never"
    when = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")
