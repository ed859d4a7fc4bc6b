"""``logd produce TOPIC``: one record per stdin line; exit 0 only when every record is
acknowledged.

Lines are read in large chunks and handed to the producer's batch API, so piping a file in
costs a few Python operations per line, not a round trip. A line is the bytes up to ``\\n``
(the ``\\n`` is not part of the value; a final line without one still counts). From a
terminal, each line is sent as soon as it is typed.

``-Z/--tombstone`` (rpk's flag): an empty value is sent as null -- a tombstone, which a
compacted topic keeps for ``delete.retention.ms`` and then forgets with its key.

``--value-schema FILE|ID``: each line (each value, with ``--key-separator``) is a JSON value,
written as Avro in the registry's wire format (``0``, the schema id, the Avro bytes). A FILE
is registered under ``TOPIC-value`` first (or found there, when it already is); an ID is a
schema the registry holds. Blank lines are skipped; a line that is not JSON or does not fit
the schema stops the command with its line number (the lines before it were sent).
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import status
from cli.app import App
from cli.common import key_value
from cli.registry.common import add_registry_arguments

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
    parser.add_argument(
        "--value-schema",
        metavar="FILE|ID",
        help="values are JSON lines, written as Avro with this schema (see above)",
    )
    add_registry_arguments(parser)


class _Outcome:
    """Counts delivery reports; called on the producer's poll/flush thread (ours)."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: Exception | None = None
        #: A storage error (a disk below its reserve): what follows will not fit either.
        self.stop = False

    def __call__(self, err: Exception | None, metadata: Any) -> None:
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = err
            from logd.errors import KafkaStorageError

            self.stop = self.stop or isinstance(err, KafkaStorageError)


def run(app: App, args: argparse.Namespace) -> int:
    from logd.client import Producer

    if args.partition is not None and args.partition < 0:
        app.abort(f"-p must be 0 or more, got {args.partition}", status.USAGE)
    if args.key is not None and args.key_separator is not None:
        app.abort("give either -k or --key-separator, not both", status.USAGE)
    if args.key_separator == "":
        app.abort("--key-separator must not be empty", status.USAGE)
    encode = _avro_values(app, args) if args.value_schema else None
    outcome = _Outcome()
    sent = 0
    # A disk below its reserve (KAFKA_STORAGE_ERROR) is said at once, not retried for the
    # delivery timeout: a person is waiting (issue 24). Leadership moves are still retried.
    producer = Producer(
        brokers=app.brokers,
        **app.client_security,
        acks=_ACKS[args.acks],
        compression=args.compression,
        retry_storage_errors=False,
    )
    try:
        sent = _pump(app, args, producer, outcome, encode)
        remaining = producer.flush()
    except KeyboardInterrupt:
        remaining = producer.flush(5.0)
        app.info(f"interrupted: {sent - remaining - outcome.failed} of {sent} records acknowledged")
        return status.INTERRUPTED
    finally:
        producer.close()
    if outcome.failed or remaining:
        lost = outcome.failed + remaining
        if outcome.stop:
            acked = sent - lost
            app.abort(f"{acked} of {sent} records acknowledged, then: {outcome.first_error}")
        app.abort(f"{lost} of {sent} records were not acknowledged: {outcome.first_error}")
    return status.OK


class _AvroValues:
    """JSON lines -> registry-framed Avro values; counts lines for its error messages."""

    def __init__(self, app: App, topic: str, serializer: Any) -> None:
        from logd.client.serde import from_json

        self.app = app
        self.topic = topic
        self.serializer = serializer
        self.from_json = from_json
        self.line = 0

    def __call__(self, raw: bytes) -> bytes:
        import json

        from logd.client.serde import SerializationError

        self.line += 1
        try:
            loaded = json.loads(raw)
        except ValueError as exc:
            self.app.abort(f"line {self.line} is not JSON: {exc}")
        try:
            value = self.from_json(self.serializer.parsed_schema, loaded)
            framed = self.serializer(value, self.topic)
        except (ValueError, SerializationError) as exc:
            self.app.abort(f"line {self.line}: {exc}")
        assert framed is not None
        return bytes(framed)


def _avro_values(app: App, args: argparse.Namespace) -> _AvroValues:
    from cli.registry.common import open_registry, read_schema
    from logd.client.serde import AvroSerializer

    registry = open_registry(app, args)
    where: str = args.value_schema
    if where.isdigit():
        serializer = AvroSerializer(registry, schema_id=int(where))
    else:
        serializer = AvroSerializer(registry, read_schema(app, where, "--value-schema"))
    return _AvroValues(app, args.topic, serializer)


def _pump(
    app: App,
    args: argparse.Namespace,
    producer: Any,
    outcome: _Outcome,
    encode: _AvroValues | None = None,
) -> int:
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
        sent += _send(producer, args, lines, fixed_key, separator, headers, outcome, encode)
        if interactive:
            producer.flush()
        producer.poll(0)
        if outcome.stop:
            return sent  # the rest of the input would be refused too
    if tail:
        sent += _send(producer, args, [tail], fixed_key, separator, headers, outcome, encode)
    return sent


def _send(
    producer: Any,
    args: argparse.Namespace,
    lines: list[bytes],
    fixed_key: bytes | None,
    separator: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    outcome: _Outcome,
    encode: _AvroValues | None = None,
) -> int:
    if encode is not None:
        lines = [line for line in lines if line.strip()]
        if separator is None:
            lines = [encode(line) for line in lines]
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
            if encode is not None:
                value = encode(value)
        producer.produce(
            args.topic,
            value=None if args.tombstone and not value else value,
            key=key,
            partition=args.partition,
            headers=headers,
            on_delivery=outcome,
        )
    return len(lines)
