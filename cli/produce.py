"""``logd produce TOPIC``: one record per stdin line; exit 0 only when every record is
acknowledged.

Lines are read in large chunks and handed to the producer's batch API, so piping a file in
costs a few Python operations per line, not a round trip. A line is the bytes up to ``\\n``
(the ``\\n`` is not part of the value; a final line without one still counts). From a
terminal, each line is sent as soon as it is typed.

``-Z/--tombstone`` (rpk's flag): an empty value is sent as null -- a tombstone, which a
compacted topic keeps for ``delete.retention.ms`` and then forgets with its key.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import status
from cli.app import App
from cli.common import key_value

__all__ = ["add_arguments", "run"]

_CHUNK = 1 << 20
_ACKS = {"0": 0, "1": 1, "all": "all", "-1": "all"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC")
    parser.add_argument("-k", "--key", help="the key of every record")
    parser.add_argument(
        "--key-separator",
        metavar="SEP",
        help="split each line at the first SEP into key and value",
    )
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        type=key_value("-H"),
        metavar="KEY=VALUE",
        help="a header on every record (repeatable)",
    )
    parser.add_argument("-p", "--partition", type=int, help="produce to this partition only")
    parser.add_argument(
        "--acks", choices=sorted(_ACKS), default="all", help="0, 1 or all (default all)"
    )
    parser.add_argument(
        "-Z",
        "--tombstone",
        action="store_true",
        help="send an empty value as null (a tombstone that deletes its key when compacted)",
    )
    parser.add_argument(
        "-z",
        "--compression",
        choices=("none", "lz4", "zstd", "gzip", "snappy"),
        default="lz4",
        help="batch compression (default lz4)",
    )


class _Outcome:
    """Counts delivery reports; called on the producer's poll/flush thread (ours)."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: Exception | None = None

    def __call__(self, err: Exception | None, metadata: Any) -> None:
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = err


def run(app: App, args: argparse.Namespace) -> int:
    from logd.client import Producer

    if args.partition is not None and args.partition < 0:
        app.abort(f"-p must be 0 or more, got {args.partition}", status.USAGE)
    if args.key is not None and args.key_separator is not None:
        app.abort("give either -k or --key-separator, not both", status.USAGE)
    if args.key_separator == "":
        app.abort("--key-separator must not be empty", status.USAGE)
    outcome = _Outcome()
    sent = 0
    producer = Producer(
        brokers=app.brokers,
        **app.client_security,
        acks=_ACKS[args.acks],
        compression=args.compression,
    )
    try:
        sent = _pump(app, args, producer, outcome)
        remaining = producer.flush()
    except KeyboardInterrupt:
        remaining = producer.flush(5.0)
        app.info(f"interrupted: {sent - remaining - outcome.failed} of {sent} records acknowledged")
        return status.INTERRUPTED
    finally:
        producer.close()
    if outcome.failed or remaining:
        lost = outcome.failed + remaining
        app.abort(f"{lost} of {sent} records were not acknowledged: {outcome.first_error}")
    return status.OK


def _pump(app: App, args: argparse.Namespace, producer: Any, outcome: _Outcome) -> int:
    stream: Any = app.stdin.buffer if hasattr(app.stdin, "buffer") else app.stdin
    read = getattr(stream, "read1", stream.read)
    headers = [(k, v.encode()) for k, v in args.headers] or None
    fixed_key = args.key.encode() if args.key is not None else None
    separator = args.key_separator.encode() if args.key_separator is not None else None
    interactive = app.stdin.isatty()
    sent = 0
    tail = b""
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            break
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        sent += _send(producer, args, lines, fixed_key, separator, headers, outcome)
        if interactive:
            producer.flush()
        producer.poll(0)
    if tail:
        sent += _send(producer, args, [tail], fixed_key, separator, headers, outcome)
    return sent


def _send(
    producer: Any,
    args: argparse.Namespace,
    lines: list[bytes],
    fixed_key: bytes | None,
    separator: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    outcome: _Outcome,
) -> int:
    if not lines:
        return 0
    if separator is None and headers is None and not args.tombstone:
        keys = None if fixed_key is None else [fixed_key] * len(lines)
        producer.produce_batch(
            args.topic, lines, keys=keys, partition=args.partition, on_delivery=outcome
        )
        return len(lines)
    for line in lines:
        key = fixed_key
        value = line
        if separator is not None:
            key, found, value = line.partition(separator)
            if not found:
                key, value = None, line
        producer.produce(
            args.topic,
            value=None if args.tombstone and not value else value,
            key=key,
            partition=args.partition,
            headers=headers,
            on_delivery=outcome,
        )
    return len(lines)
