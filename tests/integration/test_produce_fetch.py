"""Produce, fetch and list offsets against a real broker process, over raw gRPC."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from logd.errors import ErrorCode
from logd.v1 import broker_pb2
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.wire import (
    ACKS_ALL,
    batch,
    broker,
    create_topic,
    fetch,
    list_offset,
    produce,
    produce_one,
    values,
)

pytestmark = pytest.mark.integration


def _request(
    cid: int, topic: str, partition: int, acks: int, records: bytes
) -> broker_pb2.ProduceRequest:
    return broker_pb2.ProduceRequest(
        correlation_id=cid, topic=topic, partition=partition, acks=acks, records=records
    )


def test_round_trip_with_each_acks_level(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    answers = produce(
        shared_broker,
        [
            _request(1, topic, 0, 1, batch([b"one", b"two"])),
            _request(2, topic, 0, ACKS_ALL, batch([b"three"])),
            _request(3, topic, 0, 0, batch([b"four"])),
        ],
    )
    # acks=0 is fire-and-forget: no answer unless it failed.
    assert sorted(answers) == [1, 2]
    # Offset 0 holds the leader's LEADER_CHANGE control batch (DESIGN.md principle 3).
    assert (answers[1].error.code, answers[1].base_offset) == (0, 1)
    assert (answers[2].error.code, answers[2].base_offset) == (0, 3)
    assert answers[1].log_append_time_ms == -1

    def all_four() -> list[tuple[int, bytes | None]]:
        got = values(fetch(shared_broker, topic, 0, 0).records)
        return got if len(got) == 4 else []

    got = wait_until(all_four, message="the acks=0 record to become readable")
    assert got == [(1, b"one"), (2, b"two"), (3, b"three"), (4, b"four")]


def test_many_requests_in_flight_on_one_stream_keep_their_order(
    shared_broker: BrokerProcess, topic: str
) -> None:
    create_topic(shared_broker, topic, partitions=2)
    requests = [
        _request(1000 + i, topic, i % 2, (1, ACKS_ALL)[i % 3 == 0], batch([f"{i}".encode()]))
        for i in range(300)
    ]
    answers = produce(shared_broker, requests)
    assert sorted(answers) == [r.correlation_id for r in requests]
    for request in requests:
        answer = answers[request.correlation_id]
        assert answer.error.code == 0, answer
        assert (answer.topic, answer.partition) == (request.topic, request.partition)
    # Within a partition, offsets follow the order the requests were sent in.
    for partition in (0, 1):
        sent = [r for r in requests if r.partition == partition]
        offsets = [answers[r.correlation_id].base_offset for r in sent]
        assert offsets == list(range(1, len(sent) + 1))  # 0: the LEADER_CHANGE batch
        stored = values(fetch(shared_broker, topic, partition, 0, max_bytes=1 << 22).records)
        assert [v for _, v in stored] == [str(r.correlation_id - 1000).encode() for r in sent]


def test_fetch_long_poll_wakes_on_append(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    produce_one(shared_broker, topic, 0, batch([b"before"]))
    result: dict[str, broker_pb2.FetchPartitionData] = {}

    def poll() -> None:
        # max_wait_ms far beyond the client's deadline: the call can only succeed if the
        # append wakes it.
        result["data"] = fetch(
            shared_broker, topic, 0, 2, max_wait_ms=60_000, min_bytes=1, timeout=30
        )

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(0)  # let the poller send; correctness does not depend on who goes first
        assert produce_one(shared_broker, topic, 0, batch([b"after"])).error.code == 0
    finally:
        poller.join(60)
    data = result["data"]
    assert data.error.code == 0
    assert values(data.records) == [(2, b"after")]  # 0: LEADER_CHANGE, 1: before
    assert data.high_watermark == 3


def test_fetch_long_poll_times_out_with_nothing(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    wait_until(lambda: fetch(shared_broker, topic, 0, 0).high_watermark == 1,
               message="the leader's LEADER_CHANGE batch to commit")  # fmt: skip
    started = time.monotonic()
    data = fetch(shared_broker, topic, 0, 1, max_wait_ms=300, min_bytes=1)
    elapsed = time.monotonic() - started
    assert data.error.code == 0
    assert data.records == b""
    assert data.high_watermark == 1
    assert elapsed >= 0.3, "the broker answered before max_wait_ms with nothing to give"


def test_fetch_wait_is_bounded_by_the_broker(broker_factory, tmp_path, topic: str) -> None:
    config = tmp_path / "broker.toml"
    config.write_text("fetch.max.wait.ms = 200\n")
    b = broker_factory(config_file=config)
    create_topic(b, topic)
    # Asks to wait an hour; the broker cuts it to 200 ms, well inside the 30 s deadline.
    wait_until(lambda: fetch(b, topic, 0, 0).high_watermark == 1, message="LEADER_CHANGE")
    data = fetch(b, topic, 0, 1, max_wait_ms=3_600_000, min_bytes=1, timeout=30)
    assert data.error.code == 0 and data.records == b""


def test_first_batch_comes_whole_even_above_max_bytes(
    shared_broker: BrokerProcess, topic: str
) -> None:
    create_topic(shared_broker, topic)
    big = batch([b"x" * 5000])
    produce_one(shared_broker, topic, 0, big)
    produce_one(shared_broker, topic, 0, batch([b"small"]))
    data = fetch(shared_broker, topic, 0, 1, max_bytes=100)  # 0: LEADER_CHANGE
    assert values(data.records) == [(1, b"x" * 5000)]


def test_fetch_offsets_outside_the_log_are_out_of_range(
    shared_broker: BrokerProcess, topic: str
) -> None:
    create_topic(shared_broker, topic)
    produce_one(shared_broker, topic, 0, batch([b"a", b"b"]), acks=ACKS_ALL)
    for offset in (-1, 4, 1 << 62):
        data = fetch(shared_broker, topic, 0, offset)
        assert data.error.code == ErrorCode.OFFSET_OUT_OF_RANGE, offset
        assert "outside [0, 3]" in data.error.message  # 0: LEADER_CHANGE, 1-2: a, b
    # The end itself is a valid position: nothing to read yet.
    at_end = fetch(shared_broker, topic, 0, 3)
    assert (at_end.error.code, at_end.records, at_end.high_watermark) == (0, b"", 3)


def test_list_offsets_earliest_latest_and_by_time(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    for i, ts in enumerate((1_000, 2_000, 3_000)):
        answer = produce_one(shared_broker, topic, 0, batch([b"%d" % i] * 2, ts), acks=ACKS_ALL)
        assert answer.base_offset == 1 + 2 * i  # 0: the LEADER_CHANGE control batch
    spec = broker_pb2
    assert list_offset(shared_broker, topic, 0, spec.OFFSET_SPEC_EARLIEST).offset == 0
    assert list_offset(shared_broker, topic, 0, spec.OFFSET_SPEC_LATEST).offset == 7
    by_time = list_offset(shared_broker, topic, 0, spec.OFFSET_SPEC_TIMESTAMP, 1_500)
    assert (by_time.offset, by_time.timestamp_ms) == (3, 2_000)
    exact = list_offset(shared_broker, topic, 0, spec.OFFSET_SPEC_TIMESTAMP, 3_000)
    assert exact.offset == 5
    after = list_offset(shared_broker, topic, 0, spec.OFFSET_SPEC_TIMESTAMP, 3_001)
    assert (after.error.code, after.offset) == (0, -1)
    unknown_spec = list_offset(shared_broker, topic, 0, 7)
    assert unknown_spec.error.code == ErrorCode.INVALID_REQUEST


def test_log_append_time_topics_stamp_the_broker_time(
    shared_broker: BrokerProcess, topic: str
) -> None:
    create_topic(shared_broker, topic, configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    answer = produce_one(shared_broker, topic, 0, batch([b"v"], timestamp_ms=5))
    after = int(time.time() * 1000)
    assert answer.error.code == 0
    assert before <= answer.log_append_time_ms <= after
    from logd.records import decode_batch

    stored = fetch(shared_broker, topic, 0, answer.base_offset).records
    decoded = decode_batch(stored)  # the CRC was rewritten: it decodes
    assert decoded.header.log_append_time
    assert decoded.header.max_timestamp == answer.log_append_time_ms


def test_produce_to_unknown_topic_or_partition(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    for name, partition in ((topic + "-missing", 0), (topic, 1), (topic, -1)):
        answer = produce_one(shared_broker, name, partition, batch([b"x"]))
        assert answer.error.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert values(fetch(shared_broker, topic, 0, 0).records) == []  # at most LEADER_CHANGE


def test_metadata_names_this_broker_as_leader(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic, partitions=3)
    meta = broker(shared_broker).Metadata(broker_pb2.MetadataRequest(topics=[topic]))
    assert [(b.node_id, f"{b.host}:{b.port}") for b in meta.brokers] == [(0, shared_broker.address)]
    assert meta.node_id == 0 and meta.controller_id == 0 and meta.cluster_id
    (t,) = meta.topics
    assert [(p.partition, p.leader_id, list(p.replicas)) for p in t.partitions] == [
        (0, 0, [0]),
        (1, 0, [0]),
        (2, 0, [0]),
    ]
    missing = broker(shared_broker).Metadata(broker_pb2.MetadataRequest(topics=["nope-x"]))
    assert missing.topics[0].error.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_a_produce_stream_can_be_abandoned(shared_broker: BrokerProcess, topic: str) -> None:
    create_topic(shared_broker, topic)
    call = broker(shared_broker).Produce(
        iter([_request(1, topic, 0, 1, batch([b"v"]))] * 1), timeout=30
    )
    call.cancel()
    with pytest.raises(grpc.RpcError):
        list(call)
    assert produce_one(shared_broker, topic, 0, batch([b"w"])).error.code == 0
