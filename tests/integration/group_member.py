"""A consumer-group member for the integration tests, run as its own process.

Consumes ``--topics`` in ``--group`` and appends to ``--out`` one line per event (see
``group_support.py``), flushed at once so a SIGKILL loses nothing it reported. SIGTERM
ends it cleanly: the consumer commits, calls on_revoke and leaves (a static member does
not leave).
"""

from __future__ import annotations

import argparse
import signal
import sys

from logd.client import Consumer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topics", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--session-ms", type=int, required=True)
    parser.add_argument("--heartbeat-ms", type=int, required=True)
    parser.add_argument("--instance-id")
    args = parser.parse_args()
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    stopping = [False]

    def stop(signum: int, frame: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)

    def report(kind: str):  # type: ignore[no-untyped-def]
        def callback(consumer: Consumer, partitions: list) -> None:  # type: ignore[type-arg]
            out.write(f"{kind} {','.join(f'{tp.topic}:{tp.partition}' for tp in partitions)}\n")

        return callback

    consumer = Consumer(
        brokers=args.brokers,
        group_id=args.group,
        group_instance_id=args.instance_id,
        client_id=args.instance_id or "member",
        session_timeout_ms=args.session_ms,
        heartbeat_interval_ms=args.heartbeat_ms,
        auto_offset_reset="earliest",
        auto_commit_interval_ms=200,
        retry_backoff_ms=50,
    )
    consumer.subscribe(
        args.topics.split(","),
        on_assign=report("assign"),
        on_revoke=report("revoke"),
        on_lost=report("lost"),
    )
    try:
        while not stopping[0]:
            record = consumer.poll(0.1)
            if record is not None:
                value = (record.value or b"").decode()
                out.write(f"rec {record.topic} {record.partition} {record.offset} {value}\n")
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
