"""Raw gRPC helpers for integration tests: stubs from ``logd.v1`` and batches from the codec.

Deliberately not the client library: these tests pin the wire contract itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import grpc

from logd.errors import ErrorCode
from logd.frontends.grpc.errors import ERROR_CODE_KEY
from logd.records import build_value_batch, decode_records
from logd.v1 import admin_pb2, admin_pb2_grpc, broker_pb2, broker_pb2_grpc
from tests.integration.cluster import BrokerProcess

__all__ = [
    "ACKS_ALL",
    "admin",
    "batch",
    "broker",
    "create_topic",
    "fetch",
    "list_offset",
    "produce",
    "produce_one",
    "status_error_code",
    "values",
]

ACKS_ALL = -1
RPC_TIMEOUT_S = 30.0


def admin(b: BrokerProcess) -> admin_pb2_grpc.LogAdminStub:
    return admin_pb2_grpc.LogAdminStub(b.channel())


def broker(b: BrokerProcess) -> broker_pb2_grpc.LogBrokerStub:
    return broker_pb2_grpc.LogBrokerStub(b.channel())


def batch(values_: Sequence[bytes], timestamp_ms: int | None = None) -> bytes:
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return build_value_batch(list(values_), ts)


def values(records: bytes, start_offset: int = 0) -> list[tuple[int, bytes | None]]:
    return [(r.offset, r.value) for r in decode_records(records, start_offset=start_offset)]


def create_topic(
    b: BrokerProcess, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    answer = admin(b).CreateTopics(
        admin_pb2.CreateTopicsRequest(
            topics=[admin_pb2.NewTopic(name=name, partitions=partitions, configs=configs or {})]
        ),
        timeout=RPC_TIMEOUT_S,
    )
    assert answer.topics[0].error.code == 0, answer


def produce(
    b: BrokerProcess, requests: Iterable[broker_pb2.ProduceRequest]
) -> dict[int, broker_pb2.ProduceResponse]:
    """Send every request on one stream; the answers by correlation id."""
    answers: dict[int, broker_pb2.ProduceResponse] = {}
    for answer in broker(b).Produce(iter(list(requests)), timeout=RPC_TIMEOUT_S):
        assert answer.correlation_id not in answers, f"answered twice: {answer}"
        answers[answer.correlation_id] = answer
    return answers


def produce_one(
    b: BrokerProcess, topic: str, partition: int, records: bytes, acks: int = ACKS_ALL
) -> broker_pb2.ProduceResponse:
    request = broker_pb2.ProduceRequest(
        correlation_id=1, topic=topic, partition=partition, acks=acks, records=records
    )
    answers = produce(b, [request])
    return answers[1]


def fetch(
    b: BrokerProcess,
    topic: str,
    partition: int,
    offset: int,
    *,
    max_wait_ms: int = 0,
    min_bytes: int = 0,
    max_bytes: int = 1 << 20,
    timeout: float = RPC_TIMEOUT_S,
) -> broker_pb2.FetchPartitionData:
    answer = broker(b).Fetch(
        broker_pb2.FetchRequest(
            max_wait_ms=max_wait_ms,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            partitions=[
                broker_pb2.FetchPartition(
                    topic=topic, partition=partition, offset=offset, max_bytes=max_bytes
                )
            ],
        ),
        timeout=timeout,
    )
    assert len(answer.partitions) == 1
    return answer.partitions[0]


def list_offset(
    b: BrokerProcess, topic: str, partition: int, spec: int, timestamp_ms: int = 0
) -> broker_pb2.ListOffsetsPartitionResult:
    answer = broker(b).ListOffsets(
        broker_pb2.ListOffsetsRequest(
            partitions=[
                broker_pb2.ListOffsetsPartition(
                    topic=topic, partition=partition, spec=spec, timestamp_ms=timestamp_ms
                )
            ]
        ),
        timeout=RPC_TIMEOUT_S,
    )
    return answer.partitions[0]


def status_error_code(error: grpc.RpcError) -> ErrorCode:
    """The logd error code a failed call carries in its trailing metadata."""
    metadata = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert ERROR_CODE_KEY in metadata, f"no {ERROR_CODE_KEY} in {metadata}: {error}"
    return ErrorCode(int(metadata[ERROR_CODE_KEY]))
