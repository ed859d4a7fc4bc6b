"""``logd group describe G...``: state, members and, per partition, the committed (current)
offset, the log end offset, the lag between them and the member that owns it; then the
total lag (DESIGN.md). A partition without a committed offset shows ``-`` and counts no lag.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "as_json", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("groups", nargs="+", metavar="GROUP", help="groups to describe")


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        described = admin.describe_groups(args.groups)
    finally:
        admin.close()
    missing = [d.group_id for d in described if not d.exists]
    if missing:
        app.abort(f"group {missing[0]!r} does not exist (`logd group list` shows the groups)")
    if app.output_format == "json":
        app.json([as_json(d) for d in described])
        return status.OK
    for i, d in enumerate(described):
        if i:
            app.print()
        _text(app, d)
    return status.OK


def _offset(value: int | None) -> int | str:
    return "-" if value is None or value < 0 else value


def _text(app: App, d: Any) -> None:
    summary = (
        ("GROUP", d.group_id),
        ("COORDINATOR", d.coordinator_id),
        ("STATE", d.state),
        ("BALANCER", d.protocol or "-"),
        ("MEMBERS", len(d.members)),
        ("TOTAL-LAG", d.total_lag),
    )
    width = max(len(k) for k, _ in summary)
    for key, value in summary:
        app.print(f"{key.ljust(width)}  {value}")
    app.print()
    app.table(
        ["topic", "partition", "current-offset", "log-end-offset", "lag", "member-id",
         "client-id", "host"],
        [
            (
                p.topic, p.partition, _offset(p.committed_offset), _offset(p.log_end_offset),
                _offset(p.lag), p.member_id or "-", p.client_id or "-", p.host or "-",
            )
            for p in d.partitions
        ],
    )  # fmt: skip


def as_json(d: Any) -> dict[str, Any]:
    return {
        "group": d.group_id,
        "coordinator": d.coordinator_id,
        "state": d.state,
        "protocol": d.protocol,
        "generation": d.generation_id,
        "members": [
            {
                "member_id": m.member_id,
                "instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "partitions": [[tp.topic, tp.partition] for tp in m.assignment],
            }
            for m in d.members
        ],
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "current_offset": p.committed_offset if p.committed_offset >= 0 else None,
                "log_end_offset": p.log_end_offset if p.log_end_offset >= 0 else None,
                "lag": p.lag,
                "member_id": p.member_id or None,
                "client_id": p.client_id or None,
                "host": p.host or None,
            }
            for p in d.partitions
        ],
        "total_lag": d.total_lag,
    }
