"""The stage trace's join (bench/latency_trace.py, bench/kafka_latency.py) and its probes'
hold on the code.

The join runs over made-up events (no broker, no timing). The probes wrap methods of the
client and the broker by name: a refactoring that renames one must fail here, not in the
middle of a benchmark -- checked in a child process, so that no wrapper leaks into the
other tests of this worker.
"""

from __future__ import annotations

import subprocess
import sys

from bench.kafka_latency import STAGES_RF1 as KAFKA_STAGES_RF1
from bench.kafka_latency import kafka_rows
from bench.latency_trace import (
    STAGES_RF1,
    STAGES_RF3,
    Broker,
    ab_summary,
    ack_split,
    flush_split,
    join,
    table,
)
from tests.imports import ROOT

T = "t"
MS = 1_000_000


def _client(base: int) -> list[tuple[object, ...]]:
    return [
        ("wire", T, 0, 7, base + 2 * MS, base + 9 * MS),
        ("acked", T, 0, 10, 5, 7, base + 1 * MS, base + 20 * MS),
        ("got", T, 0, 10, 15, base + 13 * MS),
    ]


def _leader(base: int, node: int = 0) -> list[tuple[object, ...]]:
    return [
        ("append", T, 0, 10, 14, base + 3 * MS, base + 4 * MS),
        ("written", "t-0", 10, 15, base + 5 * MS),
        ("fsynced", "t-0", 9, base + 5 * MS, base + 4 * MS),  # does not cover offset 12
        ("fsynced", "t-0", 15, base + 6 * MS, base + 5 * MS + 500),
        ("commit", T, 0, 15, base + 7 * MS),
        ("read", T, 0, 10, 15, True, 99, base + 8 * MS),
        ("answered", 98, base + 9 * MS),  # another fetch's task
        ("answered", 99, base + 10 * MS),
    ]


def test_one_node_stages_join_by_partition_and_offset() -> None:
    base = 10**12
    seen = [(0, 3, base - 10**9, base), (0, 12, base, base + 14 * MS)]  # the first: warm-up
    rows, missing = join(T, seen, _client(base), [Broker(0, _leader(base))])
    assert missing == 0
    assert rows == [
        [base, base + MS, base + 2 * MS, base + 3 * MS, base + 4 * MS, base + 5 * MS,
         base + 5 * MS + 500, base + 6 * MS, base + 7 * MS, base + 8 * MS, base + 10 * MS,
         base + 13 * MS, base + 14 * MS]
    ]  # fmt: skip
    stages = table(rows, STAGES_RF1)
    assert [s["stage"] for s in stages] == list(STAGES_RF1)
    assert stages[-1]["p50"] == 14.0 and stages[-3]["step_p50"] == 2.0


def test_three_nodes_take_the_follower_whose_acknowledgement_came_first() -> None:
    base = 10**12
    leader = [*_leader(base), ("ack", "t-0", 1, 15, base + 6 * MS + 900),
              ("ack", "t-0", 2, 15, base + 6 * MS + 500)]  # fmt: skip
    slow = [("frecv", "t-0", 10, 15, base + 5 * MS + 100)]
    fast = [("frecv", "t-0", 10, 15, base + 5 * MS + 200), ("written", "t-0", 10, 15,
            base + 5 * MS + 300), ("fsynced", "t-0", 15, base + 5 * MS + 400)]  # fmt: skip
    brokers = [Broker(0, leader), Broker(1, slow), Broker(2, fast)]
    rows, missing = join(T, [(0, 12, base, base + 14 * MS)], _client(base), brokers, 0)
    assert missing == 0
    (row,) = rows
    assert len(row) == len(STAGES_RF3) + 1
    assert row[6:10] == [base + 5 * MS + 200, base + 5 * MS + 300, base + 5 * MS + 400,
                         base + 6 * MS + 500]  # fmt: skip


def test_a_record_without_its_broker_events_is_counted_not_joined() -> None:
    base = 10**12
    rows, missing = join(T, [(0, 12, base, base + MS)], _client(base), [Broker(0, [])], 0)
    assert (rows, missing) == ([], 1)


def test_the_probes_find_every_method_they_wrap() -> None:
    code = (
        "from bench.latency_probes import install_broker, install_client\n"
        "install_client(); install_broker(); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_kafka_clients_records_join_the_brokers_stages_alone() -> None:
    """bench/kafka_latency.py: no client probes (librdkafka), only the producer call, the
    broker's stages and the receipt; a record read by no fetch is not joined."""
    base = 10**12
    seen = [(0, 12, base, base + 14 * MS), (0, 20, base, base + 15 * MS)]
    rows, missing = kafka_rows(T, seen, [Broker(0, _leader(base))], 0)
    assert missing == 1
    assert rows == [
        [base, base + 3 * MS, base + 4 * MS, base + 5 * MS, base + 6 * MS, base + 7 * MS,
         base + 8 * MS, base + 10 * MS, base + 14 * MS]
    ]  # fmt: skip
    assert [s["stage"] for s in table(rows, KAFKA_STAGES_RF1)] == list(KAFKA_STAGES_RF1)


def test_the_async_writes_ab_pairs_each_off_run_with_the_on_run_after_it() -> None:
    def run(rf: int, on: bool, p50: float, p99: float) -> dict[str, object]:
        return {"rf": rf, "async_writes": on, "e2e_p50": p50, "e2e_p99": p99, "load": 1.0}

    runs = [run(3, False, 10.0, 40.0), run(3, True, 5.0, 60.0), run(1, False, 2.0, 8.0),
            run(1, True, 3.0, 4.0)]  # fmt: skip
    lines = ab_summary(runs).splitlines()
    assert lines[1] == "  RF=3 p50 10.00 -> 5.00 (0.50), p99 40.00 -> 60.00 (1.50); load 1.0 / 1.0"
    assert lines[2].startswith("  RF=1 p50 2.00 -> 3.00 (1.50), p99 8.00 -> 4.00 (0.50)")


def test_each_flush_splits_into_its_fsync_calls_and_the_rest() -> None:
    base = 10**12
    late = ("fsynced", "t-0", 20, base + 9 * MS, base + 7 * MS, MS // 2)
    leader = Broker(0, [*_leader(base), late])
    split = flush_split([leader, Broker(1, [])])
    # the two flushes of _leader carry no fsync time (older events): only the third counts
    assert split == {"count": 1, "whole": [2.0, 2.0], "fsync": [0.5, 0.5]}


def test_each_produce_answer_is_timed_from_the_commit_of_its_last_record() -> None:
    base = 10**12
    uncommitted = ("acked", T, 0, 15, 3, 8, base + 2 * MS, base + 30 * MS)  # no commit: left out
    client = [*_client(base), uncommitted]
    split = ack_split(client, [Broker(1, []), Broker(0, _leader(base))])
    assert split == {"count": 1, "p50_p99": [13.0, 13.0]}  # commit at +7 ms, answer at +20


def test_the_wire_probe_reads_the_produce_request_the_client_writes_as_bytes() -> None:
    """The client writes a ProduceRequest as its wire bytes (no message object): the probe
    must still key it, or no record of a trace joins (it read 0 of 25,000 once the client
    changed and the probe still looked for message objects)."""
    from bench.latency_probes import produce_key
    from logd.client.transport.produce_request import encode_produce_request
    from logd.v1 import broker_pb2

    frame = encode_produce_request(41, "lat", 3, -1, 30000, b"\x00" * 70)
    assert produce_key(frame) == ("lat", 3, 41)
    message = broker_pb2.ProduceRequest(correlation_id=7, topic="t", partition=1)
    assert produce_key(message) == ("t", 1, 7)
    assert produce_key(broker_pb2.FetchRequest()) is None
