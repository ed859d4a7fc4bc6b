"""Bad input gets a typed error; the broker keeps serving and the log stays as it was."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import grpc
import pytest

from logd.errors import ErrorCode
from logd.records.header import rewrite_crc
from logd.v1 import admin_pb2, broker_pb2
from tests.integration.cluster import BrokerProcess
from tests.integration.wire import (
    ACKS_ALL,
    admin,
    batch,
    create_topic,
    fetch,
    produce,
    produce_one,
    status_error_code,
    values,
)

pytestmark = pytest.mark.integration

TOPIC = "victim"


@pytest.fixture(scope="module")
def victim(shared_broker: BrokerProcess) -> BrokerProcess:
    create_topic(shared_broker, TOPIC, configs={"max.message.bytes": "4096"})
    assert produce_one(shared_broker, TOPIC, 0, batch([b"good-1", b"good-2"])).error.code == 0
    return shared_broker


@pytest.fixture
def unchanged(victim: BrokerProcess) -> Iterator[BrokerProcess]:
    """After the test: the broker still serves, and the victim's log is as it was."""
    before = fetch(victim, TOPIC, 0, 0)
    yield victim
    after = fetch(victim, TOPIC, 0, 0)
    assert (after.high_watermark, after.records) == (before.high_watermark, before.records)
    # Offset 0 is the leader's LEADER_CHANGE control batch (DESIGN.md principle 3).
    assert values(after.records) == [(1, b"good-1"), (2, b"good-2")]
    answer = produce_one(victim, TOPIC + "-probe", 0, batch([b"x"]))
    assert answer.error.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION  # answered: still serving


def _corrupt(data: bytes, position: int, value: int) -> bytes:
    buf = bytearray(data)
    buf[position] = value
    return bytes(buf)


def _bad_batches() -> dict[str, bytes]:
    good = batch([b"payload"])
    wrong_magic = bytearray(good)
    wrong_magic[16] = 1
    rewrite_crc(wrong_magic)  # a correct CRC, so only the magic is wrong
    length_lies = bytearray(good)
    struct.pack_into(">i", length_lies, 8, len(good) + 100)
    return {
        "wrong crc": _corrupt(good, len(good) - 2, good[-2] ^ 0xFF),
        "wrong magic": bytes(wrong_magic),
        "length lies": bytes(length_lies),
        "truncated": good[:40],
        "empty": b"",
        "two batches": good + good,
    }


@pytest.mark.parametrize("case", sorted(_bad_batches()))
def test_a_corrupt_batch_is_refused(unchanged: BrokerProcess, case: str) -> None:
    answer = produce_one(unchanged, TOPIC, 0, _bad_batches()[case])
    assert answer.error.code == ErrorCode.CORRUPT_MESSAGE, answer
    assert answer.error.message


def test_a_batch_above_max_message_bytes_is_refused(unchanged: BrokerProcess) -> None:
    answer = produce_one(unchanged, TOPIC, 0, batch([b"x" * 5000]))
    assert answer.error.code == ErrorCode.MESSAGE_TOO_LARGE
    assert "4096" in answer.error.message


def test_a_request_above_max_request_bytes_is_refused(broker_factory, tmp_path) -> None:
    config = tmp_path / "small.toml"
    config.write_text("max.request.bytes = 65536\nfetch.max.bytes = 65536\n")
    b = broker_factory(config_file=config)
    create_topic(b, "t", configs={"max.message.bytes": "10000000"})
    with pytest.raises(grpc.RpcError) as caught:
        produce_one(b, "t", 0, batch([b"x" * 100_000]))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert produce_one(b, "t", 0, batch([b"fits"])).error.code == 0
    assert values(fetch(b, "t", 0, 0).records) == [(1, b"fits")]  # 0: LEADER_CHANGE


@pytest.mark.parametrize("name", ["../x", "a" * 250, "", "a/b", ".."])
def test_invalid_topic_names_are_refused(unchanged: BrokerProcess, name: str) -> None:
    answer = produce_one(unchanged, name, 0, batch([b"x"]))
    assert answer.error.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert fetch(unchanged, name, 0, 0).error.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    created = admin(unchanged).CreateTopics(
        admin_pb2.CreateTopicsRequest(topics=[admin_pb2.NewTopic(name=name)])
    )
    assert created.topics[0].error.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    # Nothing reached the filesystem: every directory is a partition of a listed topic.
    listed = admin(unchanged).ListTopics(admin_pb2.ListTopicsRequest(include_internal=True))
    expected = {f"{t.name}-{p}" for t in listed.topics for p in range(t.partitions)}
    expected.add("__cluster_metadata-0")  # the controller's log (issue 5)
    data_dir = unchanged.data_dir
    assert {p.name for p in data_dir.iterdir() if p.is_dir()} == expected
    assert not (data_dir.parent / "x-0").exists()


def test_unknown_topics_and_partitions(unchanged: BrokerProcess) -> None:
    for name, partition in ((TOPIC, 1), (TOPIC, -1), (TOPIC, 2**31 - 1), ("absent", 0)):
        assert produce_one(unchanged, name, partition, batch([b"x"])).error.code == 3
        assert fetch(unchanged, name, partition, 0).error.code == 3


def test_bad_acks_and_offsets(unchanged: BrokerProcess) -> None:
    answer = produce_one(unchanged, TOPIC, 0, batch([b"x"]), acks=2)
    assert answer.error.code == ErrorCode.INVALID_REQUIRED_ACKS
    for offset in (-1, -(2**63), 4, 2**63 - 1):  # the log holds 0 (LEADER_CHANGE), 1, 2
        assert fetch(unchanged, TOPIC, 0, offset).error.code == ErrorCode.OFFSET_OUT_OF_RANGE
    with pytest.raises(grpc.RpcError) as caught:
        fetch(unchanged, TOPIC, 0, 0, max_bytes=-5)
    assert status_error_code(caught.value) == ErrorCode.INVALID_FETCH_SIZE
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bytes_that_are_not_a_protobuf(unchanged: BrokerProcess) -> None:
    channel = unchanged.channel()
    for method in ("/logd.v1.LogBroker/Fetch", "/logd.v1.LogAdmin/CreateTopics"):
        raw = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            raw(b"\xff\xff\xff\xff\x0f", timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert status_error_code(caught.value) == ErrorCode.INVALID_REQUEST
        assert "not a valid" in caught.value.details()


def test_a_produce_stream_with_garbage_answers_what_came_before(unchanged: BrokerProcess) -> None:
    create_topic(unchanged, "before-garbage")
    good = broker_pb2.ProduceRequest(
        correlation_id=7, topic="before-garbage", partition=0, acks=ACKS_ALL, records=batch([b"ok"])
    ).SerializeToString()
    after = broker_pb2.ProduceRequest(
        correlation_id=8, topic="before-garbage", partition=0, acks=1, records=batch([b"late"])
    ).SerializeToString()
    raw = unchanged.channel().stream_stream(
        "/logd.v1.LogBroker/Produce", request_serializer=None, response_deserializer=None
    )
    call = raw(iter([good, b"\x0a\xff\xff\xff", after]), timeout=30)
    answers = []
    with pytest.raises(grpc.RpcError) as caught:
        for item in call:
            answers.append(broker_pb2.ProduceResponse.FromString(item))
    assert [(a.correlation_id, a.error.code) for a in answers] == [(7, 0)]
    assert status_error_code(caught.value) == ErrorCode.INVALID_REQUEST
    # Nothing after the garbage was appended.
    assert values(fetch(unchanged, "before-garbage", 0, 0).records) == [(1, b"ok")]


def test_many_bad_requests_on_one_stream_each_get_an_answer(unchanged: BrokerProcess) -> None:
    bad = _bad_batches()
    requests = [
        broker_pb2.ProduceRequest(correlation_id=i, topic=TOPIC, partition=0, acks=acks, records=r)
        for i, (r, acks) in enumerate((r, acks) for r in bad.values() for acks in (0, 1, ACKS_ALL))
    ]
    answers = produce(unchanged, requests)
    # Even acks=0 requests are answered when they fail.
    assert sorted(answers) == list(range(len(requests)))
    assert {a.error.code for a in answers.values()} == {ErrorCode.CORRUPT_MESSAGE}
