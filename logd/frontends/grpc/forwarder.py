"""The gRPC side of ``logd.broker.routing.Forwarder``: a request for a partition (or a group)
another broker leads, sent to it over ``logd.v1.ClusterForward`` with the caller.

One channel per broker address, kept until the node closes. The other broker answers brokers
only (``auth``): every call carries this broker's identity (the cluster id and node id), and
with TLS the channel presents this broker's certificate (mTLS), as the cluster's transport
does. What cannot reach the other
broker (it is down, it does not answer in time) comes back as an answer whose error is
BROKER_NOT_AVAILABLE, never as an exception: the routing layer and the front end above it
treat it like any other per-item failure (retriable).

Ownership: one per node, on the broker's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from logd.broker.api import (
    FetchPartitionRequest,
    FetchPartitionResult,
    LeaderHint,
    ListOffsetsQuery,
    ListOffsetsResult,
    ProduceResult,
)
from logd.broker.seam import Caller
from logd.errors import BrokerUnavailableError, ErrorCode, LogdError, error_for_code
from logd.frontends.grpc.auth import CLUSTER_ID_KEY, NODE_ID_KEY
from logd.groups.messages import (
    OffsetCommitPartitionResult,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchPartition,
    OffsetFetchResponse,
    TopicPartition,
)
from logd.tls.settings import TlsSettings
from logd.v1 import broker_pb2, common_pb2, forward_pb2, forward_pb2_grpc, group_pb2

__all__ = ["GrpcForwarder"]

_log = logging.getLogger(__name__)
_GRACE_S = 5.0  # beyond a long poll's own wait, for the answer to travel back


def _error(proto: Any) -> LogdError | None:
    if not proto.code:
        return None
    return error_for_code(proto.code, proto.message)


def _hint(proto: Any) -> LeaderHint | None:
    return LeaderHint(proto.leader_id, proto.address, proto.leader_epoch) if proto.address else None


def _caller(caller: Caller) -> forward_pb2.ForwardedCaller:
    return forward_pb2.ForwardedCaller(
        principal=caller.principal,
        client_id=caller.client_id,
        listener=caller.listener,
        address=caller.address,
    )


def _unreachable(address: str, exc: grpc.RpcError) -> BrokerUnavailableError:
    detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
    return BrokerUnavailableError(f"broker {address} could not be reached: {detail}")


def _broker_credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """mTLS to another broker: verify it with our CA, present our broker certificate."""
    if tls.cert is None or tls.key is None:
        raise ValueError("forwarding over TLS needs this broker's certificate and key")
    ca = tls.ca.read_bytes() if tls.ca is not None else None
    return grpc.ssl_channel_credentials(ca, tls.key.read_bytes(), tls.cert.read_bytes())


class GrpcForwarder:
    """See the module docstring."""

    def __init__(
        self,
        *,
        max_message_bytes: int,
        node_id: int,
        cluster_id: str,
        tls: TlsSettings | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._metadata = ((CLUSTER_ID_KEY, cluster_id), (NODE_ID_KEY, str(node_id)))
        self._credentials = _broker_credentials(tls) if tls is not None else None
        self._options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._timeout_s = timeout_s
        self._stubs: dict[str, forward_pb2_grpc.ClusterForwardStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def _stub(self, address: str) -> forward_pb2_grpc.ClusterForwardStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = (
                grpc.aio.secure_channel(address, self._credentials, options=self._options)
                if self._credentials is not None
                else grpc.aio.insecure_channel(address, options=self._options)
            )
            self._channels.append(channel)
            stub = self._stubs[address] = forward_pb2_grpc.ClusterForwardStub(channel)  # type: ignore[no-untyped-call]
        return stub

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        self._stubs.clear()

    async def produce(
        self, address: str, topic: str, partition: int, acks: int, records: bytes,
        timeout_ms: int, caller: Caller,
    ) -> ProduceResult:  # fmt: skip
        request = broker_pb2.ProduceRequest(
            topic=topic, partition=partition, acks=acks, timeout_ms=timeout_ms, records=records
        )
        try:
            r = await self._stub(address).Produce(
                forward_pb2.ForwardedProduce(caller=_caller(caller), request=request),
                timeout=self._timeout_s + timeout_ms / 1000.0,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            return ProduceResult(error=_unreachable(address, exc))
        return ProduceResult(r.base_offset, r.log_append_time_ms, r.log_start_offset,
                             _error(r.error), _hint(r.leader_hint))  # fmt: skip

    async def fetch(
        self, address: str, partitions: Sequence[FetchPartitionRequest], *, max_wait_ms: int,
        min_bytes: int, max_bytes: int, caller: Caller,
    ) -> list[FetchPartitionResult]:  # fmt: skip
        request = broker_pb2.FetchRequest(
            max_wait_ms=max_wait_ms,
            min_bytes=min_bytes,
            max_bytes=max_bytes,
            partitions=[
                broker_pb2.FetchPartition(
                    topic=p.topic, partition=p.partition, offset=p.offset, max_bytes=p.max_bytes
                )
                for p in partitions
            ],
        )
        try:
            r = await self._stub(address).Fetch(
                forward_pb2.ForwardedFetch(caller=_caller(caller), request=request),
                timeout=max_wait_ms / 1000.0 + _GRACE_S,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            error = _unreachable(address, exc)
            return [FetchPartitionResult(p.topic, p.partition, error) for p in partitions]
        return [
            FetchPartitionResult(p.topic, p.partition, _error(p.error), p.high_watermark,
                                 p.log_start_offset, p.records, _hint(p.leader_hint))
            for p in r.partitions
        ]  # fmt: skip

    async def list_offsets(
        self, address: str, queries: Sequence[ListOffsetsQuery], caller: Caller
    ) -> list[ListOffsetsResult]:
        request = broker_pb2.ListOffsetsRequest(
            partitions=[
                broker_pb2.ListOffsetsPartition(
                    topic=q.topic,
                    partition=q.partition,
                    spec=q.spec,  # type: ignore[arg-type]
                    timestamp_ms=q.timestamp_ms,
                )
                for q in queries
            ]
        )
        try:
            r = await self._stub(address).ListOffsets(
                forward_pb2.ForwardedListOffsets(caller=_caller(caller), request=request),
                timeout=self._timeout_s,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            error = _unreachable(address, exc)
            return [ListOffsetsResult(q.topic, q.partition, error) for q in queries]
        return [
            ListOffsetsResult(p.topic, p.partition, _error(p.error), p.offset, p.timestamp_ms,
                              _hint(p.leader_hint))
            for p in r.partitions
        ]  # fmt: skip

    async def commit_offsets(
        self, address: str, request: OffsetCommitRequest, caller: Caller
    ) -> OffsetCommitResponse:
        proto = group_pb2.OffsetCommitRequest(
            group_id=request.group_id,
            generation_id=request.generation_id,
            member_id=request.member_id,
            group_instance_id=request.group_instance_id or "",
            partitions=[
                group_pb2.OffsetCommitPartition(
                    topic=p.topic, partition=p.partition, offset=p.offset,
                    leader_epoch=p.leader_epoch, metadata=p.metadata,
                )
                for p in request.partitions
            ],
        )  # fmt: skip
        try:
            r = await self._stub(address).OffsetCommit(
                forward_pb2.ForwardedOffsetCommit(caller=_caller(caller), request=proto),
                timeout=self._timeout_s,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            failed = ErrorCode.COORDINATOR_NOT_AVAILABLE
            parts = tuple(OffsetCommitPartitionResult(p.topic, p.partition, failed)
                          for p in request.partitions)  # fmt: skip
            return OffsetCommitResponse(parts, str(_unreachable(address, exc)))
        results = tuple(OffsetCommitPartitionResult(p.topic, p.partition, ErrorCode(p.error.code))
                        for p in r.partitions)  # fmt: skip
        message = next((p.error.message for p in r.partitions if p.error.code), "")
        return OffsetCommitResponse(results, message)

    async def fetch_offsets(
        self,
        address: str,
        group_id: str,
        partitions: Sequence[TopicPartition] | None,
        caller: Caller,
    ) -> OffsetFetchResponse:
        proto = group_pb2.OffsetFetchRequest(
            group_id=group_id,
            partitions=[
                common_pb2.TopicPartition(topic=t, partition=p) for t, p in partitions or ()
            ],
        )
        try:
            r = await self._stub(address).OffsetFetch(
                forward_pb2.ForwardedOffsetFetch(caller=_caller(caller), request=proto),
                timeout=self._timeout_s,
                metadata=self._metadata,
            )
        except grpc.RpcError as exc:
            return OffsetFetchResponse(
                ErrorCode.COORDINATOR_NOT_AVAILABLE, (), str(_unreachable(address, exc))
            )
        return OffsetFetchResponse(
            ErrorCode(r.error.code),
            tuple(OffsetFetchPartition(p.topic, p.partition, p.offset, p.leader_epoch, p.metadata,
                                       ErrorCode(p.error.code))
                  for p in r.partitions),
            r.error.message,
        )  # fmt: skip
