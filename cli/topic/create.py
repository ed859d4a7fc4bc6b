"""``logd topic create NAME... [-p N] [-r R] [-c KEY=VALUE ...] [--if-not-exists]``."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import key_value, open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="topics to create")
    parser.add_argument(
        "-p", "--partitions", type=int, default=-1, help="partitions (default: broker's)"
    )
    parser.add_argument(
        "-r",
        "--replicas",
        "--replication-factor",
        dest="replicas",
        type=int,
        default=-1,
        help="replication factor (default: broker's)",
    )
    parser.add_argument(
        "-c",
        "--config",
        "--topic-config",
        dest="configs",
        action="append",
        default=[],
        type=key_value("-c"),
        metavar="KEY=VALUE",
        help="a topic config, e.g. retention.ms=3600000 (repeatable)",
    )
    parser.add_argument(
        "--if-not-exists", action="store_true", help="succeed when the topic exists already"
    )


#: The request timeout of ``topic create``: the client's default, and this much more per
#: partition asked for.
_BASE_TIMEOUT_MS = 30_000
_PER_PARTITION_MS = 20


def _timeout_ms(partitions: int) -> int:
    return _BASE_TIMEOUT_MS + _PER_PARTITION_MS * max(partitions, 0)


def run(app: App, args: argparse.Namespace) -> int:
    from logd.client import NewTopic
    from logd.errors import BrokerUnavailableError, LogdError, TopicAlreadyExistsError

    if args.partitions == 0 or args.partitions < -1:
        app.abort(f"-p must be at least 1, got {args.partitions}", status.USAGE)
    if args.replicas == 0 or args.replicas < -1:
        app.abort(f"-r must be at least 1, got {args.replicas}", status.USAGE)
    configs = dict(args.configs)
    results: list[tuple[str, str]] = []
    errors: list[str] = []
    # Thousands of partitions take a while to create on every broker (three fsyncs a log):
    # wait for the answer rather than give up and retry into "already exists".
    admin = open_admin(app, request_timeout_ms=_timeout_ms(args.partitions))
    try:
        for name in args.names:
            try:
                admin.create_topics([NewTopic(name, args.partitions, args.replicas, configs)])
                results.append((name, "OK"))
            except TopicAlreadyExistsError as exc:
                if not args.if_not_exists:
                    errors.append(str(exc))
                results.append((name, "OK (exists)" if args.if_not_exists else str(exc)))
            except BrokerUnavailableError:
                raise
            except LogdError as exc:
                errors.append(str(exc))
                results.append((name, str(exc)))
    finally:
        admin.close()
    if len(args.names) == 1 and errors:
        app.abort(errors[0])
    app.emit([{"topic": n, "status": s} for n, s in results], ["topic", "status"], results)
    if errors:
        app.abort(f"{len(errors)} of {len(args.names)} topics were not created")
    return status.OK
