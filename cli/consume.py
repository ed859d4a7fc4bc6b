"""``logd consume TOPIC... [-o OFFSET] [-p P,...] [-n N] [-g GROUP] [-f json|FORMAT]``.

Without ``-g`` the command assigns itself the partitions (all, or ``-p``) and starts where
``-o`` says (default: the end, as ``kafka-console-consumer`` and rpk do). A range ``A:B``
exits once every partition has reached B; ``-n N`` exits after N records. Offsets the log
does not hold are an error that names the valid range. With ``-g`` it consumes as a group
member (``cli.consume_group``). Keys and values written with a schema-registry id print as
JSON (``cli.registry.values``) unless ``--raw``.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import status
from cli.app import App
from cli.offsets import OffsetSpecError, Position, StartStop, parse_offset_spec
from cli.registry.common import add_registry_arguments

__all__ = ["add_arguments", "run"]

_POLL_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topics", nargs="+", metavar="TOPIC")
    parser.add_argument(
        "-o",
        "--offset",
        default="end",
        help="start | end | N | -N | @TIME, or a range A:B such as :end (default end)",
    )
    parser.add_argument(
        "-p", "--partitions", type=_partition_list, help="only these partitions, e.g. 0,2"
    )
    parser.add_argument("-n", "--num", type=int, help="exit after N records")
    parser.add_argument(
        "-g",
        "--group",
        help="consume as a member of this group, from its committed offsets (-o applies only "
        "where it has none); commits as it goes and on Ctrl-C",
    )
    parser.add_argument(
        "-f",
        "--record-format",
        dest="record_format",
        default="json",
        help="json (default) or a format such as '%%k %%v\\n'",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="print registry-encoded keys and values as bytes, not decoded to JSON",
    )
    add_registry_arguments(parser)


def _partition_list(text: str) -> list[int]:
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"-p takes partitions like 0,2, got {text!r}") from None
    if not parts or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"-p takes partitions like 0,2, got {text!r}")
    return parts


def run(app: App, args: argparse.Namespace) -> int:
    from cli.formatting import FormatError, compile_format
    from logd.clock import SystemClock

    if args.num is not None and args.num < 1:
        app.abort(f"-n must be at least 1, got {args.num}", status.USAGE)
    try:
        render = compile_format(args.record_format)
        spec = parse_offset_spec(args.offset, SystemClock().now_ms())
    except (FormatError, OffsetSpecError) as exc:
        app.abort(str(exc), status.USAGE)
    if not args.raw:
        from cli.registry.values import RegistryDecoder, decoding

        render = decoding(render, RegistryDecoder(app, args))
    if args.group:
        from cli.consume_group import run_group

        return run_group(app, args, spec, render)
    return _run_assigned(app, args, spec, render)


class _Plan:
    """Where each partition starts and stops; built once from the broker's watermarks."""

    def __init__(self) -> None:
        self.start: dict[tuple[str, int], int] = {}
        self.stop: dict[tuple[str, int], int | None] = {}
        self.stop_time: dict[tuple[str, int], int] = {}


def _describe(app: App, topics: list[str], only: list[int] | None) -> dict[tuple[str, int], Any]:
    from logd.client import Admin
    from logd.errors import UnknownTopicOrPartitionError

    admin = Admin(brokers=app.brokers, **app.client_security)
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    partitions: dict[tuple[str, int], Any] = {}
    for topic in described:
        have = {p.partition: p for p in topic.partitions}
        wanted = only if only is not None else sorted(have)
        for number in wanted:
            if number not in have:
                raise UnknownTopicOrPartitionError(
                    f"topic {topic.name} has no partition {number} "
                    f"(it has {len(have)}: 0..{len(have) - 1})"
                )
            partitions[(topic.name, number)] = have[number]
    return partitions


def _plan(consumer: Any, partitions: dict[tuple[str, int], Any], spec: StartStop) -> _Plan:
    from logd.client import TopicPartition
    from logd.clock import SystemClock
    from logd.errors import OffsetOutOfRangeError

    plan = _Plan()
    now = SystemClock().now_ms()
    times = [p for p in (spec.start, spec.stop) if p is not None and p.kind == "time"]
    found: dict[tuple[int, tuple[str, int]], int] = {}
    for position in times:
        asked = [TopicPartition(t, p, position.value) for (t, p) in partitions]
        for tp in consumer.offsets_for_times(asked):
            found[(position.value, (tp.topic, tp.partition))] = tp.offset
    for key, info in partitions.items():
        low, high = info.log_start_offset, info.high_watermark
        start = _resolve(spec.start, key, low, high, found)
        if spec.start.kind == "offset" and not low <= start <= high:
            raise OffsetOutOfRangeError(
                f"offset {start} is out of range for {key[0]}/{key[1]}: "
                f"valid offsets are {low}..{high}"
            )
        plan.start[key] = start
        stop = spec.stop
        if stop is None:
            plan.stop[key] = None
        elif stop.kind == "time" and found.get((stop.value, key), -1) < 0 and stop.value > now:
            # No record at or after a future time yet: stop on the first one that is.
            plan.stop[key] = None
            plan.stop_time[key] = stop.value
        else:
            plan.stop[key] = _resolve(stop, key, low, high, found)
    return plan


def _resolve(
    position: Position,
    key: tuple[str, int],
    low: int,
    high: int,
    found: dict[tuple[int, tuple[str, int]], int],
) -> int:
    if position.kind == "start":
        return low
    if position.kind == "end":
        return high
    if position.kind == "from_end":
        return max(low, high - position.value)
    if position.kind == "time":
        offset = found.get((position.value, key), -1)
        return high if offset < 0 else offset
    return position.value


def _run_assigned(app: App, args: argparse.Namespace, spec: StartStop, render: Any) -> int:
    from logd.client import Consumer, TopicPartition

    partitions = _describe(app, args.topics, args.partitions)
    consumer = Consumer(brokers=app.brokers, **app.client_security, auto_offset_reset="error")
    out = app.stdout.buffer if hasattr(app.stdout, "buffer") else None
    try:
        plan = _plan(consumer, partitions, spec)
        live = {k for k in partitions if not _already_done(plan, k)}
        if not live:
            return status.OK
        consumer.assign([TopicPartition(t, p, plan.start[(t, p)]) for (t, p) in live])
        return _loop(app, args, consumer, plan, live, render, out)
    except KeyboardInterrupt:
        return status.OK
    finally:
        consumer.close()


def _already_done(plan: _Plan, key: tuple[str, int]) -> bool:
    stop = plan.stop[key]
    return stop is not None and plan.start[key] >= stop


def _loop(
    app: App,
    args: argparse.Namespace,
    consumer: Any,
    plan: _Plan,
    live: set[tuple[str, int]],
    render: Any,
    out: Any,
) -> int:
    from logd.client import TopicPartition

    printed = 0
    write = out.write if out is not None else (lambda b: app.stdout.write(b.decode()))
    while live:
        record = consumer.poll(_POLL_S)
        if record is None:
            _retire_reached(consumer, plan, live)
            if out is not None:
                out.flush()
            continue
        key = (record.topic, record.partition)
        if key not in live:
            continue
        stop = plan.stop[key]
        stop_time = plan.stop_time.get(key)
        if (stop is not None and record.offset >= stop) or (
            stop_time is not None and record.timestamp >= stop_time
        ):
            live.discard(key)
            consumer.pause([TopicPartition(*key)])
            continue
        write(render(record))
        printed += 1
        if args.num is not None and printed >= args.num:
            break
        if stop is not None and record.offset + 1 >= stop:
            live.discard(key)
            consumer.pause([TopicPartition(*key)])
    if out is not None:
        out.flush()
    else:
        app.stdout.flush()
    return status.OK


def _retire_reached(consumer: Any, plan: _Plan, live: set[tuple[str, int]]) -> None:
    """A partition whose position passed its stop (e.g. over control batches) is done."""
    from logd.client import TopicPartition

    bounded = [k for k in live if plan.stop[k] is not None]
    if not bounded:
        return
    for tp in consumer.position([TopicPartition(t, p) for t, p in bounded]):
        stop = plan.stop[(tp.topic, tp.partition)]
        if stop is not None and tp.offset >= stop:
            live.discard((tp.topic, tp.partition))
