"""Conversions between the ``logd.v1`` messages and the broker core's types.

Pure functions, no I/O. Record bytes pass through untouched (never copied into per-record
objects). Counts a client controls are checked before anything is built from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from logd.broker import api
from logd.errors import InvalidRequestError
from logd.frontends.grpc.errors import error_proto
from logd.v1 import admin_pb2, broker_pb2

if TYPE_CHECKING:
    from logd.frontends.grpc.produce_frame import ProduceFrame

__all__ = [
    "MAX_ITEMS",
    "cluster_description",
    "describe_topics_response",
    "fetch_requests",
    "fetch_response",
    "leader_hint",
    "list_offsets_queries",
    "list_offsets_response",
    "list_topics_response",
    "metadata_response",
    "new_topics",
    "produce_response",
    "topic_results",
    "transfer_response",
]

#: Items (partitions, topics) one request may name; far above any real client's need.
MAX_ITEMS: Final = 100_000


def check_count(what: str, count: int) -> None:
    if count > MAX_ITEMS:
        raise InvalidRequestError(f"{count} {what} in one request; the limit is {MAX_ITEMS}")


def leader_hint(hint: api.LeaderHint | None) -> broker_pb2.LeaderHint | None:
    if hint is None:
        return None
    return broker_pb2.LeaderHint(
        leader_id=hint.leader_id, address=hint.address, leader_epoch=hint.leader_epoch
    )


# -- produce / fetch / offsets ------------------------------------------------------------


def produce_response(
    request: broker_pb2.ProduceRequest | ProduceFrame, result: api.ProduceResult
) -> broker_pb2.ProduceResponse:
    return broker_pb2.ProduceResponse(
        correlation_id=request.correlation_id,
        topic=request.topic,
        partition=request.partition,
        error=error_proto(result.error),
        base_offset=result.base_offset,
        log_append_time_ms=result.log_append_time_ms,
        log_start_offset=result.log_start_offset,
        leader_hint=leader_hint(result.leader_hint),
    )


def fetch_requests(request: broker_pb2.FetchRequest) -> list[api.FetchPartitionRequest]:
    check_count("partitions", len(request.partitions))
    return [
        api.FetchPartitionRequest(p.topic, p.partition, p.offset, p.max_bytes)
        for p in request.partitions
    ]


def fetch_response(results: Sequence[api.FetchPartitionResult]) -> broker_pb2.FetchResponse:
    return broker_pb2.FetchResponse(
        partitions=[
            broker_pb2.FetchPartitionData(
                topic=r.topic,
                partition=r.partition,
                error=error_proto(r.error),
                high_watermark=r.high_watermark,
                log_start_offset=r.log_start_offset,
                records=r.records,
                leader_hint=leader_hint(r.leader_hint),
            )
            for r in results
        ]
    )


def list_offsets_queries(request: broker_pb2.ListOffsetsRequest) -> list[api.ListOffsetsQuery]:
    check_count("partitions", len(request.partitions))
    return [
        api.ListOffsetsQuery(p.topic, p.partition, int(p.spec), p.timestamp_ms)
        for p in request.partitions
    ]


def list_offsets_response(
    results: Sequence[api.ListOffsetsResult],
) -> broker_pb2.ListOffsetsResponse:
    return broker_pb2.ListOffsetsResponse(
        partitions=[
            broker_pb2.ListOffsetsPartitionResult(
                topic=r.topic,
                partition=r.partition,
                error=error_proto(r.error),
                offset=r.offset,
                timestamp_ms=r.timestamp_ms,
                leader_hint=leader_hint(r.leader_hint),
            )
            for r in results
        ]
    )


# -- metadata -----------------------------------------------------------------------------


def _broker_info(b: api.BrokerMeta) -> broker_pb2.BrokerInfo:
    disk = b.storage
    return broker_pb2.BrokerInfo(
        node_id=b.node_id, host=b.host, port=b.port, rack=b.rack, alive=b.alive,
        degraded=disk.degraded, warning=disk.warning, disk_free_bytes=disk.free_bytes,
        disk_total_bytes=disk.total_bytes, disk_reserve_bytes=disk.reserve_bytes,
        log_bytes=disk.log_bytes, draining=b.draining,
    )  # fmt: skip


def metadata_response(meta: api.ClusterMetadata) -> broker_pb2.MetadataResponse:
    return broker_pb2.MetadataResponse(
        cluster_id=meta.cluster_id,
        controller_id=meta.controller_id,
        node_id=meta.node_id,
        brokers=[_broker_info(b) for b in meta.brokers],
        topics=[
            broker_pb2.TopicMetadata(
                name=t.name,
                error=error_proto(t.error),
                internal=t.internal,
                partitions=[
                    broker_pb2.PartitionMetadata(
                        partition=p.partition,
                        error=error_proto(p.error),
                        leader_id=p.leader_id,
                        leader_epoch=p.leader_epoch,
                        replicas=p.replicas,
                        isr=p.isr,
                        offline_replicas=p.offline_replicas,
                    )
                    for p in t.partitions
                ],
            )
            for t in meta.topics
        ],
    )


def cluster_description(desc: api.ClusterDescription) -> admin_pb2.DescribeClusterResponse:
    return admin_pb2.DescribeClusterResponse(
        cluster_id=desc.cluster_id,
        controller_id=desc.controller_id,
        node_id=desc.node_id,
        brokers=[_broker_info(b) for b in desc.brokers],
    )


# -- admin --------------------------------------------------------------------------------


def new_topics(request: admin_pb2.CreateTopicsRequest) -> list[api.NewTopic]:
    check_count("topics", len(request.topics))
    return [
        api.NewTopic(t.name, t.partitions, t.replication_factor, dict(t.configs))
        for t in request.topics
    ]


def topic_results(results: Sequence[api.TopicResult]) -> list[admin_pb2.TopicResult]:
    return [admin_pb2.TopicResult(name=r.name, error=error_proto(r.error)) for r in results]


def list_topics_response(listing: Sequence[api.TopicListing]) -> admin_pb2.ListTopicsResponse:
    return admin_pb2.ListTopicsResponse(
        topics=[
            admin_pb2.TopicListing(
                name=t.name,
                partitions=t.partitions,
                replication_factor=t.replication_factor,
                internal=t.internal,
            )
            for t in listing
        ]
    )


def describe_topics_response(
    descriptions: Sequence[api.TopicDescription],
) -> admin_pb2.DescribeTopicsResponse:
    return admin_pb2.DescribeTopicsResponse(
        topics=[
            admin_pb2.TopicDescription(
                name=d.name,
                error=error_proto(d.error),
                internal=d.internal,
                partitions=[
                    admin_pb2.PartitionDescription(
                        partition=p.partition,
                        leader_id=p.leader_id,
                        leader_epoch=p.leader_epoch,
                        replicas=p.replicas,
                        isr=p.isr,
                        log_start_offset=p.log_start_offset,
                        high_watermark=p.high_watermark,
                        error=error_proto(p.error),
                        cleanable_ratio=p.cleanable_ratio,
                        last_clean_ms=p.last_clean_ms,
                    )
                    for p in d.partitions
                ],
                configs=[
                    admin_pb2.ConfigEntry(name=c.name, value=c.value, is_default=c.is_default)
                    for c in d.configs
                ],
            )
            for d in descriptions
        ]
    )


def transfer_response(result: api.LeadershipResult) -> admin_pb2.TransferLeadershipResponse:
    """TransferLeadership's answer (the admin servicer's, and a forwarded one's)."""
    return admin_pb2.TransferLeadershipResponse(
        error=error_proto(result.error),
        leader_id=result.leader_id,
        leader_epoch=result.leader_epoch,
        leader_hint=leader_hint(result.leader_hint),
    )
