"""Storage faults on one real broker: a cut active segment, a flipped bit in a sealed one, a
deleted offset index and a deleted time index -- one per partition, made while the broker
is down (after a SIGKILL or a clean stop), then a restart.

What a user relies on, per fault:

* it starts again and serves; producing goes on where the log now ends;
* it never serves bad data: every record read is the one acknowledged at that offset, and
  a damaged batch is refused with KAFKA_STORAGE_ERROR (the read path's check,
  ``logd.storage.verify``);
* it loses nothing acknowledged that a single node can still have: every batch outside the
  damage reads back. With one replica, what the damage destroyed is gone for good -- the
  batches cut off the active segment, the batch whose bit flipped (the cluster version in
  ``test_cluster_faults.py`` must repair both from the leader).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from logd.errors import ErrorCode
from logd.v1 import broker_pb2
from tests.fault.disk import (
    DiskFault,
    cut_active_segment,
    delete_index,
    flip_sealed_segment,
    partition_dir,
    segments,
)
from tests.integration.cluster import BrokerProcess
from tests.integration.wire import (
    ACKS_ALL,
    batch,
    create_topic,
    fetch,
    list_offset,
    produce,
    values,
)

pytestmark = [pytest.mark.fault, pytest.mark.integration]

TOPIC = "disk"
BATCHES = 120
RECORDS = 5
BASE_TS = 1_700_000_000_000
#: Which fault each partition gets.
CUT, FLIP, NO_INDEX, NO_TIMEINDEX = range(4)


@dataclass
class Acked:
    """What was acknowledged: per partition, each batch's (base offset, values)."""

    batches: dict[int, list[tuple[int, list[bytes]]]]

    def records(self, partition: int) -> list[tuple[int, bytes]]:
        return [(base + i, v) for base, vs in self.batches[partition] for i, v in enumerate(vs)]


def _fill(broker: BrokerProcess) -> Acked:
    """BATCHES batches of RECORDS records per partition, with acks=all, on one stream."""
    requests, expected = [], {}
    for p in range(4):
        for i in range(BATCHES):
            vs = [b"%d-%04d-%d" % (p, i, r) for r in range(RECORDS)]
            cid = p * BATCHES + i
            expected[cid] = (p, vs)
            requests.append(broker_pb2.ProduceRequest(
                correlation_id=cid, topic=TOPIC, partition=p, acks=ACKS_ALL,
                records=batch(vs, timestamp_ms=BASE_TS + i * 10),
            ))  # fmt: skip
    answers = produce(broker, requests)
    acked: dict[int, list[tuple[int, list[bytes]]]] = {p: [] for p in range(4)}
    for cid, answer in sorted(answers.items()):
        assert answer.error.code == 0, answer
        p, vs = expected[cid]
        acked[p].append((answer.base_offset, vs))
    for batches in acked.values():
        batches.sort()
    return Acked(acked)


@pytest.fixture(scope="module", params=["sigkill", "sigterm"])
def damaged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BrokerProcess, Acked, dict[int, DiskFault]]]:
    """A broker whose four partitions each suffered one storage fault while it was down
    (shared by the tests of one stop mode: each test looks at its own partition)."""
    broker = BrokerProcess(tmp_path_factory.mktemp(request.param) / "broker")
    broker.start()
    try:
        # Small segments: every partition has several sealed ones.
        create_topic(broker, TOPIC, partitions=4, configs={"segment.bytes": "2048"})
        acked = _fill(broker)
        if request.param == "sigkill":
            broker.kill()
        else:
            assert broker.stop() == 0
        rng = random.Random(f"{request.param}-disk")
        directory = {p: partition_dir(broker.data_dir, TOPIC, p) for p in range(4)}
        assert all(len(segments(d)) >= 3 for d in directory.values())
        faults = {
            CUT: cut_active_segment(directory[CUT], rng),
            FLIP: flip_sealed_segment(directory[FLIP], rng),
            NO_INDEX: delete_index(directory[NO_INDEX], rng, ".index"),
            NO_TIMEINDEX: delete_index(directory[NO_TIMEINDEX], rng, ".timeindex"),
        }
        print("storage faults:", "; ".join(str(f) for f in faults.values()))
        broker.start()
        yield broker, acked, faults
        assert broker.stop() == 0
        assert "Traceback" not in broker.stderr_text()
    finally:
        broker.close()


Records = list[tuple[int, bytes | None]]


def _read_all(broker: BrokerProcess, partition: int) -> tuple[int, Records]:
    """(high watermark, every record from offset 0), fetch after fetch (a fetch stays in
    one segment)."""
    out: Records = []
    offset, high = 0, 1
    while offset < high:
        answer = fetch(broker, TOPIC, partition, offset, max_bytes=1 << 20)
        assert answer.error.code == 0, answer.error
        high = answer.high_watermark
        got = values(answer.records)
        if not got:
            break
        out += [(o, v) for o, v in got if o >= offset]
        offset = got[-1][0] + 1
    return high, out


def _read_batch(broker: BrokerProcess, partition: int, offset: int) -> tuple[int, Records]:
    """(error code, [(offset, value)]) of the one batch holding ``offset``."""
    answer = fetch(broker, TOPIC, partition, offset, max_bytes=1)
    return answer.error.code, values(answer.records) if answer.error.code == 0 else []


def test_a_cut_active_segment_keeps_every_whole_batch_before_the_cut(damaged) -> None:  # type: ignore[no-untyped-def]
    broker, acked, faults = damaged
    fault = faults[CUT]
    assert fault.batch is not None  # the cut fell inside a batch
    kept = [(base, vs) for base, vs in acked.batches[CUT] if base < fault.batch[0]]
    expected = [(base + i, v) for base, vs in kept for i, v in enumerate(vs)]
    end = fault.batch[0]
    high, records = _read_all(broker, CUT)
    # The log ends where the last whole batch ends; the restarted broker, leading again,
    # then adds its LEADER_CHANGE control batch there (DESIGN.md principle 3).
    assert high == end + 1, "the log ends where the last whole batch ends (+ LEADER_CHANGE)"
    assert records == expected
    # Lost for good with one replica: the cut batch and every later one in that segment.
    lost = [base for base, _ in acked.batches[CUT] if base >= end]
    assert lost and lost[0] == fault.batch[0]
    # Producing goes on at the new end, after the LEADER_CHANGE (the offsets of the lost
    # batches are reused: a single node has nothing else to give them).
    (answer,) = produce(broker, [_request(CUT, [b"after-the-cut"])]).values()
    assert (answer.error.code, answer.base_offset) == (0, end + 1)


def test_a_flipped_bit_in_a_sealed_segment_never_reaches_a_reader(damaged) -> None:  # type: ignore[no-untyped-def]
    broker, acked, faults = damaged
    fault = faults[FLIP]
    assert fault.batch is not None
    # The damaged segment's batches, from the file names (its content may lie now).
    first = int(fault.path.stem)
    names = [int(p.stem) for p in segments(fault.path.parent)]
    upper = names[names.index(first) + 1]
    damaged_segment = {base for base, _ in acked.batches[FLIP] if first <= base < upper}
    refused, served = [], []
    for base, vs in acked.batches[FLIP]:
        code, got = _read_batch(broker, FLIP, base)
        if code:
            assert code == ErrorCode.KAFKA_STORAGE_ERROR
            refused.append(base)
        else:
            assert got == [(base + i, v) for i, v in enumerate(vs)], "served, so intact"
            served.append(base)
    # Only batches of the damaged segment may be refused (a damaged header also stops
    # reads that walk through it or peek at it); the damaged batch always is, unless the
    # bit was in its leader epoch, which no reader sees (then it may be served, intact).
    assert set(refused) <= damaged_segment
    in_epoch_field = 12 <= fault.position - fault.batch_position < 16
    assert fault.batch[0] in refused or in_epoch_field
    assert not refused or "refusing to serve it" in broker.stderr_text()
    # Every other segment reads back, and the partition takes new records.
    assert set(served) >= {base for base, _ in acked.batches[FLIP]} - damaged_segment
    (answer,) = produce(broker, [_request(FLIP, [b"after-the-flip"])]).values()
    assert answer.error.code == 0


@pytest.mark.parametrize("partition", [NO_INDEX, NO_TIMEINDEX])
def test_a_deleted_index_is_rebuilt_and_every_lookup_still_answers(damaged, partition) -> None:  # type: ignore[no-untyped-def]
    broker, acked, faults = damaged
    assert _read_all(broker, partition)[1] == acked.records(partition)
    for i in (0, 7, BATCHES // 2, BATCHES - 1):  # by offset and by time, through the index
        base, vs = acked.batches[partition][i]
        assert _read_batch(broker, partition, base + 2) == (
            0,
            [(base + j, v) for j, v in enumerate(vs)],
        )
        found = list_offset(broker, TOPIC, partition, broker_pb2.OFFSET_SPEC_TIMESTAMP,
                            BASE_TS + i * 10)  # fmt: skip
        assert (found.error.code, found.offset) == (0, base)
    assert faults[partition].path.exists(), "rebuilt on open"


def _request(partition: int, vs: list[bytes]) -> broker_pb2.ProduceRequest:
    return broker_pb2.ProduceRequest(correlation_id=1, topic=TOPIC, partition=partition,
                                     acks=ACKS_ALL, records=batch(vs))  # fmt: skip
