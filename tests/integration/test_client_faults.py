"""The producer through broker failures: SIGKILL and restart mid-stream, and backpressure."""

from __future__ import annotations

import threading
import time

import pytest

from logd.client import OFFSET_BEGINNING, Consumer, Producer, RecordMetadata, TopicPartition
from logd.errors import LogdError, RequestTimedOutError
from tests.helpers import wait_until
from tests.integration.client_helpers import create_topic
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration


def test_acked_records_survive_sigkill_and_the_producer_carries_on(broker: BrokerProcess) -> None:
    create_topic(broker.address, "durable", 2)
    acked: dict[bytes, RecordMetadata] = {}
    failed: list[LogdError] = []
    lock = threading.Lock()
    stop = threading.Event()

    def report(value: bytes):  # type: ignore[no-untyped-def]
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            with lock:
                if err is not None:
                    failed.append(err)
                else:
                    assert md is not None
                    acked[value] = md

        return on_delivery

    producer = Producer(brokers=broker.address, acks="all", linger_ms=1, retry_backoff_ms=50)
    sent = 0

    def produce() -> None:
        nonlocal sent
        while not stop.is_set():
            value = b"r-%06d" % sent
            producer.produce("durable", value, on_delivery=report(value))
            sent += 1
            producer.poll(0.001 if sent % 50 == 0 else 0)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        wait_until(lambda: len(acked) >= 300, timeout=30, message="300 acknowledged records")
        broker.kill()
        with lock:
            before_kill = set(acked)
        broker.start()
        wait_until(lambda: len(acked) >= len(before_kill) + 300, timeout=60,
                   message="the producer to carry on after the restart")  # fmt: skip
    finally:
        stop.set()
        thread.join(30)
    assert producer.flush(60) == 0
    producer.close()
    assert failed == [], f"records failed: {failed[:3]}"
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition("durable", p, OFFSET_BEGINNING) for p in (0, 1)])
        stored: set[bytes] = set()
        deadline = time.monotonic() + 30
        while not set(acked) <= stored and time.monotonic() < deadline:
            stored.update(r.value for r in consumer.consume(10_000, 0.5) if r.value is not None)
    assert before_kill <= stored, "every record acknowledged before the kill is there"
    assert set(acked) <= stored, "and every record acknowledged after it"


def test_a_full_buffer_raises_or_blocks_until_the_broker_catches_up(broker: BrokerProcess) -> None:
    create_topic(broker.address, "slow", 1)
    value = b"x" * 1000
    producer = Producer(
        brokers=broker.address, buffer_memory=64_000, batch_size=16_000, linger_ms=0,
        block_on_buffer_full=False, request_timeout_ms=60_000,
    )  # fmt: skip
    broker.pause()  # SIGSTOP: nothing is answered, the buffer fills
    try:
        with pytest.raises(RequestTimedOutError, match="producer buffer full"):
            for _ in range(1000):
                producer.produce("slow", value)
        assert 0 < len(producer) <= 64
    finally:
        broker.resume()
    assert producer.flush(60) == 0
    producer.produce("slow", value)  # room again
    assert producer.flush(60) == 0
    producer.close()

    blocking = Producer(brokers=broker.address, buffer_memory=64_000, batch_size=16_000,
                        linger_ms=0, max_block_ms=100)  # fmt: skip
    broker.pause()
    try:
        start = time.monotonic()
        with pytest.raises(RequestTimedOutError, match=r"max\.block\.ms"):
            for _ in range(1000):
                blocking.produce("slow", value)
        assert time.monotonic() - start >= 0.1
    finally:
        broker.resume()
    assert blocking.flush(60) == 0
    blocking.close()
