"""``logd group seek G --to start|end|N|@TIME [--topics T,...] [--dry]``: move an empty
group's committed offsets, so that its members start there when they come back (replay).

The group must have no live member: a running consumer keeps committing its own positions
(the coordinator refuses the change while members are live, as Kafka's
``kafka-consumer-groups --reset-offsets`` does). Without ``--topics`` the partitions are
those the group has committed offsets for. ``N`` is clamped to each partition's
[log start, log end]; ``@TIME`` is the first offset whose record is at or after TIME (the
log end where none is yet). ``--dry`` prints the plan and changes nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import status
from cli.app import App
from cli.common import open_admin
from cli.offsets import OffsetSpecError, parse_time

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("group", metavar="GROUP", help="the group (it must have no members)")
    parser.add_argument(
        "--to", required=True, metavar="start|end|N|@TIME", help="where the group restarts"
    )
    parser.add_argument(
        "--topics",
        type=_topic_list,
        metavar="T,...",
        help="these topics (default: those the group has committed offsets for)",
    )
    parser.add_argument("--dry", action="store_true", help="print the plan, change nothing")


def _topic_list(text: str) -> list[str]:
    topics = [t.strip() for t in text.split(",") if t.strip()]
    if not topics:
        raise argparse.ArgumentTypeError(f"--topics takes names like a,b, got {text!r}")
    return topics


def _target(text: str) -> tuple[str, int]:
    """("start"|"end"|"offset"|"time", value) from ``--to``."""
    from logd.clock import SystemClock

    if text in ("start", "end"):
        return text, 0
    if text.isdigit():
        return "offset", int(text)
    if text.startswith("@"):
        return "time", parse_time(text[1:], SystemClock().now_ms())
    raise OffsetSpecError(f"bad --to {text!r}: use start, end, N or @TIME")


def run(app: App, args: argparse.Namespace) -> int:
    try:
        kind, value = _target(args.to)
    except OffsetSpecError as exc:
        app.abort(str(exc), status.USAGE)
    admin = open_admin(app)
    try:
        (group,) = admin.describe_groups([args.group])
        if group.members:
            app.abort(
                f"group {args.group!r} has {len(group.members)} live member(s): stop them "
                "first (seek only changes a group without members)"
            )
        topics = args.topics or sorted({p.topic for p in group.partitions})
        if not topics:
            app.abort(f"group {args.group!r} has no committed offsets: name --topics to seek")
        ranges = {
            (t.name, p.partition): (p.log_start_offset, p.high_watermark)
            for t in admin.describe_topics(topics)
            for p in t.partitions
        }
        plan = _plan(app, ranges, kind, value)
        current = {(p.topic, p.partition): p.committed_offset for p in group.partitions}
        rows = [(t, p, current.get((t, p), -1), new) for (t, p), new in sorted(plan.items())]
        if not args.dry:
            from logd.client import TopicPartition

            admin.alter_group_offsets(
                args.group, [TopicPartition(t, p, new) for t, p, _, new in rows]
            )
    finally:
        admin.close()
    _show(app, rows)
    if args.dry:
        app.info("dry run: nothing was changed")
    return status.OK


def _plan(
    app: App, ranges: dict[tuple[str, int], tuple[int, int]], kind: str, value: int
) -> dict[tuple[str, int], int]:
    if kind == "start":
        return {k: low for k, (low, _) in ranges.items()}
    if kind == "end":
        return {k: high for k, (_, high) in ranges.items()}
    if kind == "offset":
        return {k: min(max(value, low), high) for k, (low, high) in ranges.items()}
    found = _offsets_for_time(app, list(ranges), value)
    return {k: found[k] if found.get(k, -1) >= 0 else high for k, (_, high) in ranges.items()}


def _offsets_for_time(app: App, keys: list[tuple[str, int]], ts: int) -> dict[Any, int]:
    from logd.client import Consumer, TopicPartition

    consumer = Consumer(brokers=app.brokers, **app.client_security)
    try:
        found = consumer.offsets_for_times([TopicPartition(t, p, ts) for t, p in keys])
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def _show(app: App, rows: list[tuple[str, int, int, int]]) -> None:
    app.emit(
        [
            {
                "topic": t,
                "partition": p,
                "current_offset": old if old >= 0 else None,
                "new_offset": new,
            }
            for t, p, old, new in rows
        ],
        ["topic", "partition", "current-offset", "new-offset"],
        [(t, p, old if old >= 0 else "-", new) for t, p, old, new in rows],
    )
