"""Pure client state: subscription positions, metadata cache, error mapping, delivery."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from logd.client.consumer.subscription import (
    RESET_EARLIEST,
    RESET_ERROR,
    RESET_LATEST,
    SubscriptionState,
)
from logd.client.producer.batch import ProducerBatch
from logd.client.producer.delivery import BatchResults, QueuedDelivery
from logd.client.transport.metadata import MetadataCache, cluster_metadata_from_proto
from logd.client.transport.rpc import ERROR_CODE_KEY, error_from_proto, error_from_rpc
from logd.client.types import OFFSET_BEGINNING, OFFSET_END, RecordMetadata, TopicPartition
from logd.errors import (
    InvalidRecordError,
    InvalidRequestError,
    LogdError,
    MessageTooLargeError,
    NetworkError,
    NotLeaderOrFollowerError,
    OffsetOutOfRangeError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    UnknownServerError,
)
from logd.v1 import broker_pb2, common_pb2

# -- subscription ------------------------------------------------------------------------------


def test_assign_with_offsets_and_sentinels() -> None:
    subs = SubscriptionState(RESET_LATEST)
    subs.assign(
        [
            TopicPartition("t", 0, 42),
            TopicPartition("t", 1, OFFSET_BEGINNING),
            TopicPartition("t", 2, OFFSET_END),
            TopicPartition("t", 3),
        ]
    )
    got = {s.partition: (s.position, s.reset, s.fetchable) for s in subs.partitions.values()}
    assert got == {
        0: (42, None, True),
        1: (-1, RESET_EARLIEST, False),
        2: (-1, RESET_LATEST, False),
        3: (-1, RESET_LATEST, False),  # no offset: auto_offset_reset
    }


def test_no_offset_under_reset_error_is_marked() -> None:
    subs = SubscriptionState(None)
    (state,) = subs.assign([TopicPartition("t", 0)])
    assert state.reset == RESET_ERROR


def test_seek_bumps_the_epoch_and_keeping_a_partition_keeps_its_position() -> None:
    subs = SubscriptionState(RESET_EARLIEST)
    (state,) = subs.assign([TopicPartition("t", 0, 5)])
    state.position = 9
    epoch = state.epoch
    subs.assign([TopicPartition("t", 0), TopicPartition("u", 0, 1)])
    assert subs.get(("t", 0)) is state and state.position == 9
    subs.seek(TopicPartition("t", 0, 3))
    assert (state.position, state.fetch_offset) == (3, 3)
    assert state.epoch > epoch


@pytest.mark.parametrize(
    ("tp", "message"),
    [
        (("t", 0), "expected a TopicPartition"),
        (TopicPartition("", 0), "a topic name must be a non-empty str"),
        (TopicPartition("t", -1), "partition must be an int >= 0, got -1"),
        (TopicPartition("t", 0, -7), "offset -7 is neither >= 0 nor OFFSET_BEGINNING"),
    ],
)
def test_bad_partitions_are_refused(tp: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        SubscriptionState(RESET_LATEST).assign([tp])
    assert message in str(info.value)


def test_seek_on_an_unassigned_partition_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="t/0 is not assigned to this consumer"):
        SubscriptionState(RESET_LATEST).seek(TopicPartition("t", 0, 1))


# -- metadata -------------------------------------------------------------------------------------


def metadata_answer() -> Any:
    return broker_pb2.MetadataResponse(
        cluster_id="c",
        controller_id=1,
        node_id=1,
        brokers=[broker_pb2.BrokerInfo(node_id=1, host="h", port=7070, alive=True)],
        topics=[
            broker_pb2.TopicMetadata(
                name="t",
                partitions=[
                    broker_pb2.PartitionMetadata(partition=1, leader_id=1, leader_epoch=3),
                    broker_pb2.PartitionMetadata(partition=0, leader_id=-1, leader_epoch=2),
                ],
            ),
            broker_pb2.TopicMetadata(
                name="gone", error=common_pb2.Error(code=3, message="unknown topic")
            ),
        ],
    )


def test_metadata_cache_answers_leaders_and_takes_hints() -> None:
    cache = MetadataCache()
    md = cluster_metadata_from_proto(metadata_answer())
    cache.update(md, 0.0, complete=True)
    assert [p.partition for p in md.topics["t"].partitions] == [0, 1]
    assert md.topics["gone"].error is not None
    assert cache.num_partitions("t") == 2 and cache.num_partitions("gone") is None
    assert cache.leader_address("t", 1) == "h:7070"
    assert cache.leader_address("t", 0) is None, "leaderless"
    hint = broker_pb2.LeaderHint(leader_id=2, address="h2:1", leader_epoch=4)
    assert cache.apply_hint("t", 1, hint)
    assert cache.leader_address("t", 1) == "h2:1"
    stale = broker_pb2.LeaderHint(leader_id=1, address="h:7070", leader_epoch=3)
    assert not cache.apply_hint("t", 1, stale), "an older epoch does not win"
    cache.update(md, 1.0, complete=False)
    assert cache.leader_address("t", 1) == "h:7070", "fresh metadata replaces hints"


# -- errors ---------------------------------------------------------------------------------------


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, metadata: Any = ()) -> None:
        self._code, self._details, self._metadata = code, details, metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._metadata


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (
            FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, "t exists", [(ERROR_CODE_KEY, "36")]),
            TopicAlreadyExistsError,
            "t exists",
        ),
        (FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed\nmore"), NetworkError,
         "h:1: broker unavailable: connect failed"),
        (FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last "
                      "error: UNKNOWN: ipv4:h:1: Failed to connect to remote host: Connection "
                      "refused"), NetworkError, "h:1: broker unavailable: connection refused"),
        (FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, ""), RequestTimedOutError,
         "h:1: request timed out"),
        (FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big"), MessageTooLargeError,
         "too big"),
        (FakeRpcError(grpc.StatusCode.INTERNAL, "Internal error from Core"), NetworkError,
         "h:1: connection failed: Internal error from Core"),
        (FakeRpcError(grpc.StatusCode.INTERNAL, "bug", [(ERROR_CODE_KEY, "-1")]),
         UnknownServerError, "bug"),
        (FakeRpcError(grpc.StatusCode.DATA_LOSS, "boom"), UnknownServerError, "DATA_LOSS: boom"),
    ],
)  # fmt: skip
def test_grpc_failures_become_logd_errors(exc: Exception, kind: type, text: str) -> None:
    err = error_from_rpc(exc, "h:1")
    assert isinstance(err, kind)
    assert text in str(err)
    assert "\n" not in str(err)


def test_errors_inside_answers() -> None:
    assert error_from_proto(common_pb2.Error()) is None
    err = error_from_proto(common_pb2.Error(code=1, message="valid offsets are 0..9"))
    assert isinstance(err, OffsetOutOfRangeError) and str(err) == "valid offsets are 0..9"
    assert isinstance(error_from_proto(common_pb2.Error(code=6)), NotLeaderOrFollowerError)


# -- delivery -------------------------------------------------------------------------------------


def delivered(base_offset: int, count: int, error: LogdError | None = None) -> ProducerBatch:
    b = ProducerBatch("t", 2, 0, 1000, 0.0, 10.0)
    b.values = [b"x"] * count
    b.base_offset = base_offset
    b.error = error
    return b


def test_queued_delivery_serves_callbacks_on_the_callers_thread() -> None:
    seen: list[tuple[Any, Any]] = []
    sink = QueuedDelivery()
    ok = delivered(100, 3)
    ok.add_callback(1, 2, lambda e, md: seen.append((e, md)))
    bad = delivered(-1, 1, InvalidRecordError("no"))
    bad.add_callback(0, 1, lambda e, md: seen.append((e, md)))
    quiet = delivered(7, 5)
    for b in (ok, quiet, bad):
        sink(b)
    assert seen == [], "nothing runs until served"
    assert sink.serve() == 3
    assert seen[:2] == [
        (None, RecordMetadata("t", 2, 101, 1000)),
        (None, RecordMetadata("t", 2, 102, 1000)),
    ]
    assert isinstance(seen[2][0], InvalidRecordError) and seen[2][1] is None
    assert sink.serve() == 0


def test_batch_results_resolve_in_input_order_across_batches() -> None:
    async def main() -> None:
        future: asyncio.Future[list[RecordMetadata]] = asyncio.get_running_loop().create_future()
        results = BatchResults(4, future)
        second = delivered(50, 2)
        first = delivered(10, 2)
        results.fill(second, 0, 2, 2)
        assert not future.done()
        results.fill(first, 0, 2, 0)
        assert [md.offset for md in future.result()] == [10, 11, 50, 51]

    asyncio.run(main())


def test_batch_results_fail_with_the_first_error() -> None:
    async def main() -> None:
        future: asyncio.Future[list[RecordMetadata]] = asyncio.get_running_loop().create_future()
        results = BatchResults(2, future)
        results.fill(delivered(-1, 1, InvalidRecordError("bad")), 0, 1, 0)
        results.fill(delivered(3, 1), 0, 1, 1)
        with pytest.raises(InvalidRecordError, match="bad"):
            future.result()

    asyncio.run(main())
