"""``logd consume TOPIC... -g GROUP``: consume as a member of a consumer group.

The group shares the topics' partitions among its members and remembers where each left
off: a partition starts at the group's committed offset, and ``-o`` applies only to
partitions the group has none for (``start``, ``end``, ``N``, ``-N``, ``@TIME``). Positions
are committed as the command goes (auto-commit) and when it stops -- after ``-n N`` records,
or on Ctrl-C / SIGTERM, which end the command with exit 0 once the record being written is
written (a record is committed only after it was printed: at-least-once). A range (``A:B``)
and ``-p`` do not apply: the group decides the partitions.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cli import status
from cli.app import App
from cli.offsets import Position, StartStop

__all__ = ["run_group"]

_POLL_S = 0.2


def run_group(app: App, args: argparse.Namespace, spec: StartStop, render: Any) -> int:
    from logd.client import Admin, Consumer

    if spec.stop is not None:
        app.abort("a range (A:B) does not apply with -g: a group consumes on", status.USAGE)
    if args.partitions is not None:
        app.abort("-p does not apply with -g: the group assigns the partitions", status.USAGE)
    plain = [t for t in args.topics if not t.startswith("^")]
    if plain:
        with Admin(brokers=app.brokers, **app.client_security) as admin:
            admin.describe_topics(plain)  # an unknown topic is one clear error now
    start = spec.start
    consumer = Consumer(
        brokers=app.brokers,
        **app.client_security,
        group_id=args.group,
        client_id="logd-cli",
        auto_offset_reset="earliest" if start.kind == "start" else "latest",
    )
    try:
        consumer.subscribe(args.topics, on_assign=_starter(start))
        with _stop_on_signals() as stopping:
            return _loop(app, args, consumer, render, stopping)
    finally:
        consumer.close()  # commits what was printed, then leaves the group


def _starter(start: Position) -> Any:
    """``on_assign``: partitions without a committed offset start where ``-o`` says."""

    def on_assign(consumer: Any, partitions: list[Any]) -> None:
        if start.kind in ("start", "end") or not partitions:
            return  # auto_offset_reset does it
        fresh = [tp for tp in consumer.committed(partitions) if tp.offset < 0]
        for tp in _targets(consumer, fresh, start):
            consumer.seek(tp)

    return on_assign


def _targets(consumer: Any, partitions: list[Any], start: Position) -> list[Any]:
    from logd.client import TopicPartition

    if not partitions:
        return []
    if start.kind == "time":
        asked = [TopicPartition(tp.topic, tp.partition, start.value) for tp in partitions]
        found = consumer.offsets_for_times(asked)
        out = []
        for tp in found:
            offset = tp.offset
            if offset < 0:  # nothing at or after that time yet: start at the end
                offset = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition))[1]
            out.append(TopicPartition(tp.topic, tp.partition, offset))
        return out
    out = []
    for tp in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition))
        if start.kind == "from_end":
            offset = max(low, high - start.value)
        else:
            offset = min(max(start.value, low), high)
        out.append(TopicPartition(tp.topic, tp.partition, offset))
    return out


@contextmanager
def _stop_on_signals() -> Iterator[list[bool]]:
    """SIGINT/SIGTERM set a flag the loop checks between records, instead of raising
    somewhere between taking a record and printing it."""
    stopping = [False]

    def stop(signum: int, frame: object) -> None:
        stopping[0] = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _loop(
    app: App, args: argparse.Namespace, consumer: Any, render: Any, stopping: list[bool]
) -> int:
    out = app.stdout.buffer if hasattr(app.stdout, "buffer") else None
    write = out.write if out is not None else (lambda b: app.stdout.write(b.decode()))
    flush = out.flush if out is not None else app.stdout.flush
    printed = 0
    while not stopping[0]:
        record = consumer.poll(_POLL_S)
        if record is None:
            flush()
            continue
        write(render(record))
        printed += 1
        if args.num is not None and printed >= args.num:
            break
    flush()
    return status.OK
