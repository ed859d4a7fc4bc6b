"""Acknowledgements broken for real: answers lost after the append, a broker SIGKILLed
between its append and its answer. With idempotence every record is stored exactly once and
in order; without it the same faults duplicate records (so the test has teeth).

A :class:`~tests.integration.cutproxy.CutProxy` stands between the producer and a real
broker (the broker advertises the proxy's address, so every connection of the client goes
through it) and cuts the connection at a successful produce answer, dropping it. Each test
prints what it injected and what it found (``pytest -s`` shows it).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from logd.client import OFFSET_BEGINNING, Consumer, Producer, RecordMetadata, TopicPartition
from logd.errors import ErrorCode, LogdError
from logd.records import build_value_batch
from tests.helpers import free_port, wait_until
from tests.integration.client_helpers import create_topic
from tests.integration.cluster import BrokerProcess
from tests.integration.cutproxy import CutProxy
from tests.integration.wire import create_topic as create_topic_raw
from tests.integration.wire import produce_one

pytestmark = pytest.mark.integration

TOPIC = "stream"
PARTITIONS = 2


@pytest.fixture
def proxied(
    broker_factory: Callable[..., BrokerProcess],
) -> Iterator[tuple[BrokerProcess, CutProxy]]:
    port = free_port()
    proxy = CutProxy(port, TOPIC, seed=7)
    proxy.start()
    try:
        b = broker_factory(port=port, extra_args=["--advertised-listen", proxy.address])
        create_topic(b.address, TOPIC, PARTITIONS)
        yield b, proxy
    finally:
        proxy.stop()


class Run:
    """Produce ``count`` records over the partitions and collect every delivery report."""

    def __init__(self, address: str, count: int, **options: object) -> None:
        self.values = {p: [b"p%d-%06d" % (p, i) for i in range(p, count, PARTITIONS)]
                       for p in range(PARTITIONS)}  # fmt: skip
        self.reports: dict[bytes, RecordMetadata] = {}
        self.errors: list[LogdError] = []
        self.producer = Producer(
            brokers=address, acks="all", linger_ms=2, batch_size=2048,
            retry_backoff_ms=20, retry_backoff_max_ms=200, **options,
        )  # fmt: skip

    def produce_all(self) -> None:
        for i in range(max(len(v) for v in self.values.values())):
            for partition, values in self.values.items():
                if i < len(values):
                    self.producer.produce(TOPIC, values[i], partition=partition,
                                          on_delivery=self._report(values[i]))  # fmt: skip
        assert self.producer.flush(120) == 0
        self.producer.close()

    def _report(self, value: bytes) -> Callable[[LogdError | None, RecordMetadata | None], None]:
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            if err is not None:
                self.errors.append(err)
            else:
                assert md is not None
                self.reports[value] = md

        return on_delivery


def stored(address: str) -> dict[int, list[tuple[int, bytes]]]:
    """(offset, value) of every record of every partition, up to the high watermark (which
    may lie past the last data record: a new leader's first entry is a control batch)."""
    out: dict[int, list[tuple[int, bytes]]] = {}
    with Consumer(brokers=address) as consumer:
        for p in range(PARTITIONS):
            tp = TopicPartition(TOPIC, p)
            _, high = consumer.get_watermark_offsets(tp)
            consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING)])
            records: list[tuple[int, bytes]] = []

            def read_to_high(
                tp: TopicPartition = tp, high: int = high, records: list[Any] = records
            ) -> bool:
                got = consumer.consume(10_000, 0.2)
                records.extend((r.offset, r.value) for r in got if r.value is not None)
                return consumer.position([tp])[0].offset >= high

            wait_until(read_to_high, timeout=60, interval=0, message=f"{tp} read up to {high}")
            out[p] = records
    return out


def duplicates(found: dict[int, list[tuple[int, bytes]]]) -> int:
    counts = Counter(v for records in found.values() for _, v in records)
    return sum(n - 1 for n in counts.values())


def check_exactly_once_in_order(run: Run, found: dict[int, list[tuple[int, bytes]]]) -> None:
    assert run.errors == [], run.errors[:3]
    for p, values in run.values.items():
        assert [v for _, v in found[p]] == values, f"partition {p}: not exactly once in order"
        for offset, value in found[p]:
            md = run.reports[value]
            assert (md.partition, md.offset) == (p, offset), "the report names where it is"


def kill_and_disarm(broker: BrokerProcess, proxy: CutProxy) -> Callable[[], None]:
    """The proxy's ``on_cut``: SIGKILL the broker, and cut nothing more until the test has
    restarted it (a kill while it starts would fail the start)."""

    def on_cut() -> None:
        proxy.cutting = False
        broker.kill()

    return on_cut


def restart_after_kills(broker: BrokerProcess, proxy: CutProxy, kills: int) -> None:
    for _ in range(kills):
        wait_until(proxy.cut_event.is_set, timeout=120, message="a kill between append and answer")
        proxy.cut_event.clear()
        # Cutting resumes at once: the proxy cuts only a *successful* produce answer, which
        # a restarted broker sends only once it serves (a restarted single node serves in
        # milliseconds, and the producer's backlog could drain before a waited start ends).
        broker.start(wait=False)
        proxy.cutting = True
    broker.wait_ready()


def test_answers_lost_after_the_append_never_become_duplicates(
    proxied: tuple[BrokerProcess, CutProxy],
) -> None:
    _, proxy = proxied
    proxy.max_cuts = 25
    run = Run(proxy.address, 4_000)
    run.produce_all()
    proxy.cutting = False
    found = stored(proxy.address)
    print(
        f"\nidempotent: {proxy.cuts} connections cut, {proxy.lost_answers} successful answers "
        f"lost after the append, {duplicates(found)} duplicates"
    )
    assert proxy.cuts >= 10 and proxy.lost_answers >= 10, "faults were injected"
    assert duplicates(found) == 0
    check_exactly_once_in_order(run, found)


def test_without_idempotence_the_same_faults_duplicate(
    proxied: tuple[BrokerProcess, CutProxy],
) -> None:
    _, proxy = proxied
    proxy.max_cuts = 5
    run = Run(proxy.address, 2_000, enable_idempotence=False)
    run.produce_all()
    proxy.cutting = False
    found = stored(proxy.address)
    dups = duplicates(found)
    print(
        f"\nnot idempotent: {proxy.cuts} connections cut, {proxy.lost_answers} successful "
        f"answers lost after the append, {dups} duplicates"
    )
    assert proxy.lost_answers >= 1
    assert dups >= proxy.lost_answers, "every lost answer's batch was appended twice"


def test_a_broker_killed_between_append_and_answer_stores_each_record_once(
    proxied: tuple[BrokerProcess, CutProxy],
) -> None:
    """The proxy SIGKILLs the broker the moment it drops a successful answer; the restarted
    broker rebuilds its producer state from the log and recognises the retries. (With
    replication, the same test runs against a leader failover: issue 5.)"""
    broker, proxy = proxied
    kills = 3
    proxy.max_cuts = kills
    proxy.on_cut = kill_and_disarm(broker, proxy)
    run = Run(proxy.address, 3_000)
    producing = threading.Thread(target=run.produce_all)
    producing.start()
    try:
        restart_after_kills(broker, proxy, kills)
    finally:
        producing.join(150)
    assert not producing.is_alive()
    found = stored(proxy.address)
    print(
        f"\nSIGKILL: {proxy.cuts} kills between append and answer, {proxy.lost_answers} "
        f"successful answers lost, {duplicates(found)} duplicates"
    )
    assert proxy.cuts == kills
    assert duplicates(found) == 0
    check_exactly_once_in_order(run, found)


def test_an_expired_producer_gets_a_clear_error_and_the_producer_carries_on(
    broker: BrokerProcess,
) -> None:
    create_topic_raw(broker, "brief", configs={"producer.id.expiration.ms": "300"})
    producer = Producer(brokers=broker.address, linger_ms=0)
    for i in range(3):
        producer.produce("brief", b"before-%d" % i)
        assert producer.flush(30) == 0
    identity = producer._core.identity
    assert identity is not None
    pid = identity.producer_id

    def probe() -> int:
        # An out-of-order batch changes nothing while the state lives (no fixed sleep).
        batch = build_value_batch([b"probe"], 0, producer_id=pid, producer_epoch=0,
                                  base_sequence=1_000)  # fmt: skip
        answer = produce_one(broker, "brief", 0, batch)
        return answer.error.code if answer.error.code == ErrorCode.UNKNOWN_PRODUCER_ID else 0

    wait_until(probe, timeout=30, message="the producer state to expire")
    unknown = produce_one(
        broker, "brief", 0,
        build_value_batch([b"x"], 0, producer_id=pid, producer_epoch=0, base_sequence=3),
    )  # fmt: skip
    assert unknown.error.code == ErrorCode.UNKNOWN_PRODUCER_ID
    assert "producer.id.expiration.ms" in unknown.error.message
    assert f"producer {pid}" in unknown.error.message

    for i in range(3):  # UNKNOWN_PRODUCER_ID: a new epoch, sequences from 0, no error
        producer.produce("brief", b"after-%d" % i)
    assert producer.flush(30) == 0
    assert identity.epoch_bumps == 1
    producer.close()
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition("brief", 0, OFFSET_BEGINNING)])
        got: list[bytes | None] = []
        while len(got) < 6:
            batch_ = consumer.consume(100, 10)
            assert batch_
            got += [r.value for r in batch_]
    assert got == [b"before-0", b"before-1", b"before-2", b"after-0", b"after-1", b"after-2"]


def test_a_stale_epoch_is_fenced(broker: BrokerProcess) -> None:
    create_topic_raw(broker, "fence")

    def idem(epoch: int, seq: int) -> bytes:
        return build_value_batch([b"v"], 0, producer_id=5, producer_epoch=epoch,
                                 base_sequence=seq)  # fmt: skip

    first = produce_one(broker, "fence", 0, idem(1, 0))
    assert first.error.code == 0
    stale = produce_one(broker, "fence", 0, idem(0, 1))
    assert stale.error.code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert "fenced" in stale.error.message
    retry = produce_one(broker, "fence", 0, idem(1, 0))
    # (Offset 1: 0 holds the leader's LEADER_CHANGE control batch, DESIGN.md principle 3.)
    assert (retry.error.code, retry.base_offset) == (0, first.base_offset) == (0, 1), (
        "a duplicate, with its offset"
    )


@pytest.mark.soak
def test_soak_hundreds_of_lost_answers_and_kills(
    proxied: tuple[BrokerProcess, CutProxy],
) -> None:
    """``make soak``: the two faults above at length — up to 300 answers dropped with their
    connection, then 10 SIGKILLs between append and answer — over 60 000 records."""
    broker, proxy = proxied
    proxy.max_cuts = 300
    run = Run(proxy.address, 40_000)
    run.produce_all()
    cuts, lost = proxy.cuts, proxy.lost_answers
    kills = 10
    proxy.max_cuts = cuts + kills
    proxy.cut_event.clear()
    proxy.on_cut = kill_and_disarm(broker, proxy)
    second = Run(proxy.address, 20_000)
    second.values = {p: [b"k" + v for v in values] for p, values in second.values.items()}
    producing = threading.Thread(target=second.produce_all)
    producing.start()
    try:
        restart_after_kills(broker, proxy, kills)
    finally:
        producing.join(300)
    proxy.cutting = False
    found = stored(proxy.address)
    print(
        f"\nsoak: {cuts} connections cut ({lost} answers lost), then {proxy.cuts - cuts} kills "
        f"({proxy.lost_answers - lost} answers lost); {duplicates(found)} duplicates in "
        f"{sum(map(len, found.values()))} records"
    )
    assert duplicates(found) == 0 and proxy.cuts == cuts + kills
    for p in range(PARTITIONS):
        assert [v for _, v in found[p]] == run.values[p] + second.values[p]
    assert run.errors == second.errors == []
