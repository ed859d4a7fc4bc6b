"""The thin gRPC servicers of ``logd.v1.LogBroker`` and ``logd.v1.LogAdmin`` (STYLE.md 14).

Each method parses (``convert``), calls the broker through its seam (``logd.broker.seam``)
with the caller (``handlers.caller_of``), and builds the answer; errors are mapped by
``logd.frontends.grpc.errors`` alone (the unary wrapper in ``handlers`` applies it). No broker
logic lives here.

Ownership: one instance of each per server, on the broker's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from logd.broker.api import PartitionMove
from logd.broker.seam import BrokerSeam
from logd.errors import LogdError
from logd.frontends.grpc import convert
from logd.frontends.grpc.errors import error_proto
from logd.frontends.grpc.fetch_stream import serve_fetch_stream
from logd.frontends.grpc.handlers import (
    caller_of,
    service_handler,
    stream_stream,
    unary_stream,
    unary_unary,
)
from logd.frontends.grpc.produce_frame import parse_produce_request
from logd.frontends.grpc.produce_stream import ProduceStream
from logd.v1 import admin_pb2, broker_pb2

__all__ = ["ADMIN_SERVICE", "BROKER_SERVICE", "AdminService", "BrokerService"]

BROKER_SERVICE = broker_pb2.DESCRIPTOR.services_by_name["LogBroker"].full_name
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["LogAdmin"].full_name

_Ctx: TypeAlias = grpc.aio.ServicerContext


class BrokerService:
    """``LogBroker``: produce, fetch, offsets, metadata, producer ids."""

    def __init__(self, seam: BrokerSeam, max_in_flight: int) -> None:
        self._broker = seam
        self._max_in_flight = max_in_flight
        self._streams: set[ProduceStream] = set()

    def handler(self) -> grpc.GenericRpcHandler:
        metered = self._broker.telemetry
        return service_handler(
            BROKER_SERVICE,
            {
                # Read from the frame itself: a batch's records are not copied (issue 22).
                "Produce": stream_stream(
                    self.produce, broker_pb2.ProduceRequest, parse_produce_request
                ),
                "Fetch": unary_unary("Fetch", self.fetch, broker_pb2.FetchRequest, metered),
                "FetchStream": unary_stream(
                    "FetchStream", self.fetch_stream, broker_pb2.FetchRequest
                ),
                "ListOffsets": unary_unary(
                    "ListOffsets", self.list_offsets, broker_pb2.ListOffsetsRequest, metered
                ),
                "Metadata": unary_unary(
                    "Metadata", self.metadata, broker_pb2.MetadataRequest, metered
                ),
                "InitProducerId": unary_unary(
                    "InitProducerId",
                    self.init_producer_id,
                    broker_pb2.InitProducerIdRequest,
                    metered,
                ),
            },
        )

    @property
    def busy(self) -> bool:
        """A produce stream is still open (shutting down: it ends once answered)."""
        return bool(self._streams)

    def drain(self) -> None:
        """Shutting down: every produce stream stops reading and ends once answered."""
        for stream in list(self._streams):
            stream.drain()

    async def produce(self, requests: AsyncIterator[Any], context: _Ctx) -> None:
        stream = ProduceStream(self._broker, context, self._max_in_flight, caller_of(context))
        if self._broker.draining:
            stream.drain()
        self._streams.add(stream)
        try:
            await stream.serve(requests)
        finally:
            self._streams.discard(stream)

    async def fetch(self, request: broker_pb2.FetchRequest, context: _Ctx) -> Any:
        results = await self._broker.fetch(
            convert.fetch_requests(request),
            max_wait_ms=request.max_wait_ms,
            min_bytes=request.min_bytes,
            max_bytes=request.max_bytes,
            caller=caller_of(context),
        )
        return convert.fetch_response(results)

    async def fetch_stream(self, request: broker_pb2.FetchRequest, context: _Ctx) -> None:
        await serve_fetch_stream(self._broker, request, context, caller_of(context))

    async def list_offsets(self, request: broker_pb2.ListOffsetsRequest, context: _Ctx) -> Any:
        return convert.list_offsets_response(
            await self._broker.list_offsets(
                convert.list_offsets_queries(request), caller=caller_of(context)
            )
        )

    async def metadata(self, request: broker_pb2.MetadataRequest, context: _Ctx) -> Any:
        convert.check_count("topics", len(request.topics))
        meta = await self._broker.metadata(
            list(request.topics),
            include_internal=request.include_internal,
            caller=caller_of(context),
        )
        return convert.metadata_response(meta)

    async def init_producer_id(
        self, request: broker_pb2.InitProducerIdRequest, context: _Ctx
    ) -> Any:
        result = await self._broker.init_producer_id(caller=caller_of(context))
        return broker_pb2.InitProducerIdResponse(
            error=error_proto(result.error),
            producer_id=result.producer_id,
            producer_epoch=result.producer_epoch,
        )


class AdminService:
    """``LogAdmin``: topics, configs, the cluster."""

    def __init__(self, seam: BrokerSeam) -> None:
        self._broker = seam

    def handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Any, Any]] = {
            "CreateTopics": (self.create_topics, admin_pb2.CreateTopicsRequest),
            "DeleteTopics": (self.delete_topics, admin_pb2.DeleteTopicsRequest),
            "ListTopics": (self.list_topics, admin_pb2.ListTopicsRequest),
            "DescribeTopics": (self.describe_topics, admin_pb2.DescribeTopicsRequest),
            "AlterConfigs": (self.alter_configs, admin_pb2.AlterConfigsRequest),
            "CreatePartitions": (self.create_partitions, admin_pb2.CreatePartitionsRequest),
            "DescribeCluster": (self.describe_cluster, admin_pb2.DescribeClusterRequest),
            "TransferLeadership": (
                self.transfer_leadership,
                admin_pb2.TransferLeadershipRequest,
            ),
            "MovePartition": (self.move_partition, admin_pb2.MovePartitionRequest),
            "ListPartitionMoves": (self.list_moves, admin_pb2.ListPartitionMovesRequest),
            "DecommissionBroker": (self.decommission, admin_pb2.DecommissionBrokerRequest),
            "ListDecommissions": (self.list_decommissions, admin_pb2.ListDecommissionsRequest),
            "BalancePartitions": (self.balance, admin_pb2.BalancePartitionsRequest),
            "AlterControllerVoters": (self.alter_voters, admin_pb2.AlterControllerVotersRequest),
            "DescribeControllerQuorum": (
                self.describe_quorum,
                admin_pb2.DescribeControllerQuorumRequest,
            ),
            "UnregisterBroker": (self.unregister_broker, admin_pb2.UnregisterBrokerRequest),
            "AlterClusterConfigs": (
                self.alter_cluster_configs,
                admin_pb2.AlterClusterConfigsRequest,
            ),
            "DescribeClusterConfigs": (
                self.describe_cluster_configs,
                admin_pb2.DescribeClusterConfigsRequest,
            ),
        }
        return service_handler(
            ADMIN_SERVICE,
            {
                name: unary_unary(name, fn, kind, self._broker.telemetry)
                for name, (fn, kind) in methods.items()
            },
        )

    async def create_topics(self, request: admin_pb2.CreateTopicsRequest, context: _Ctx) -> Any:
        results = await self._broker.create_topics(
            convert.new_topics(request),
            validate_only=request.validate_only,
            caller=caller_of(context),
        )
        return admin_pb2.CreateTopicsResponse(topics=convert.topic_results(results))

    async def delete_topics(self, request: admin_pb2.DeleteTopicsRequest, context: _Ctx) -> Any:
        convert.check_count("topics", len(request.names))
        results = await self._broker.delete_topics(list(request.names), caller=caller_of(context))
        return admin_pb2.DeleteTopicsResponse(topics=convert.topic_results(results))

    async def list_topics(self, request: admin_pb2.ListTopicsRequest, context: _Ctx) -> Any:
        listing = await self._broker.list_topics(
            include_internal=request.include_internal, caller=caller_of(context)
        )
        return convert.list_topics_response(listing)

    async def describe_topics(self, request: admin_pb2.DescribeTopicsRequest, context: _Ctx) -> Any:
        convert.check_count("topics", len(request.names))
        return convert.describe_topics_response(
            await self._broker.describe_topics(list(request.names), caller=caller_of(context))
        )

    async def alter_configs(self, request: admin_pb2.AlterConfigsRequest, context: _Ctx) -> Any:
        result = await self._broker.alter_configs(
            request.topic,
            dict(request.set),
            list(request.delete),
            validate_only=request.validate_only,
            caller=caller_of(context),
        )
        return admin_pb2.AlterConfigsResponse(error=error_proto(result.error))

    async def create_partitions(
        self, request: admin_pb2.CreatePartitionsRequest, context: _Ctx
    ) -> Any:
        result = await self._broker.create_partitions(
            request.topic,
            request.total_count,
            validate_only=request.validate_only,
            caller=caller_of(context),
        )
        return admin_pb2.CreatePartitionsResponse(error=error_proto(result.error))

    async def describe_cluster(
        self, request: admin_pb2.DescribeClusterRequest, context: _Ctx
    ) -> Any:
        return convert.cluster_description(
            await self._broker.describe_cluster(caller=caller_of(context))
        )

    async def transfer_leadership(
        self, request: admin_pb2.TransferLeadershipRequest, context: _Ctx
    ) -> Any:
        result = await self._broker.transfer_leadership(
            request.topic,
            request.partition,
            request.target,
            request.timeout_ms,
            caller=caller_of(context),
        )
        return convert.transfer_response(result)

    async def move_partition(self, request: admin_pb2.MovePartitionRequest, context: _Ctx) -> Any:
        convert.check_count("to", len(request.to))
        try:
            if request.cancel:
                await self._broker.cancel_move(
                    request.topic, request.partition, caller=caller_of(context)
                )
            else:
                await self._broker.move_partition(
                    request.topic,
                    request.partition,
                    list(request.to),
                    throttle=request.throttle,
                    caller=caller_of(context),
                )
        except LogdError as exc:
            return admin_pb2.MovePartitionResponse(error=error_proto(exc))
        return admin_pb2.MovePartitionResponse()

    async def decommission(
        self, request: admin_pb2.DecommissionBrokerRequest, context: _Ctx
    ) -> Any:
        try:
            await self._broker.decommission_broker(
                request.node_id, recommission=request.recommission, caller=caller_of(context)
            )
        except LogdError as exc:
            return admin_pb2.DecommissionBrokerResponse(error=error_proto(exc))
        return admin_pb2.DecommissionBrokerResponse()

    async def unregister_broker(
        self, request: admin_pb2.UnregisterBrokerRequest, context: _Ctx
    ) -> Any:
        try:
            await self._broker.unregister_broker(request.node_id, caller=caller_of(context))
        except LogdError as exc:
            return admin_pb2.UnregisterBrokerResponse(error=error_proto(exc))
        return admin_pb2.UnregisterBrokerResponse()

    async def list_decommissions(
        self, request: admin_pb2.ListDecommissionsRequest, context: _Ctx
    ) -> Any:
        brokers = self._broker.list_decommissions(caller=caller_of(context))
        return admin_pb2.ListDecommissionsResponse(
            brokers=[
                admin_pb2.BrokerDecommission(
                    node_id=b.node_id, replicas=b.replicas, moving=b.moving
                )
                for b in brokers
            ]
        )

    async def list_moves(self, request: admin_pb2.ListPartitionMovesRequest, context: _Ctx) -> Any:
        convert.check_count("topics", len(request.topics))
        moves = self._broker.list_moves(list(request.topics), caller=caller_of(context))
        return admin_pb2.ListPartitionMovesResponse(moves=[_move_status(m) for m in moves])

    async def alter_voters(
        self, request: admin_pb2.AlterControllerVotersRequest, context: _Ctx
    ) -> Any:
        try:
            await self._broker.alter_controller_voters(
                request.add, request.remove, caller=caller_of(context)
            )
        except LogdError as exc:
            return admin_pb2.AlterControllerVotersResponse(error=error_proto(exc))
        return admin_pb2.AlterControllerVotersResponse()

    async def describe_quorum(
        self, request: admin_pb2.DescribeControllerQuorumRequest, context: _Ctx
    ) -> Any:
        q = self._broker.describe_quorum(caller=caller_of(context))
        return admin_pb2.DescribeControllerQuorumResponse(
            leader_id=q.leader_id,
            voters=list(q.voters),
            learners=list(q.learners),
            target=list(q.target),
        )

    async def alter_cluster_configs(
        self, request: admin_pb2.AlterClusterConfigsRequest, context: _Ctx
    ) -> Any:
        convert.check_count("configs", len(request.set) + len(request.delete))
        try:
            await self._broker.alter_cluster_configs(
                dict(request.set),
                list(request.delete),
                validate_only=request.validate_only,
                caller=caller_of(context),
            )
        except LogdError as exc:
            return admin_pb2.AlterClusterConfigsResponse(error=error_proto(exc))
        return admin_pb2.AlterClusterConfigsResponse()

    async def describe_cluster_configs(
        self, request: admin_pb2.DescribeClusterConfigsRequest, context: _Ctx
    ) -> Any:
        configs = self._broker.describe_cluster_configs(caller=caller_of(context))
        return admin_pb2.DescribeClusterConfigsResponse(
            configs=[
                admin_pb2.ClusterConfigEntry(name=c.name, value=c.value, source=c.source)
                for c in configs
            ]
        )

    async def balance(self, request: admin_pb2.BalancePartitionsRequest, context: _Ctx) -> Any:
        try:
            moves = await self._broker.balance_partitions(
                request.throttle, request.max_moves, caller=caller_of(context)
            )
        except LogdError as exc:
            return admin_pb2.BalancePartitionsResponse(error=error_proto(exc))
        return admin_pb2.BalancePartitionsResponse(moves=[_move_status(m) for m in moves])


def _move_status(m: PartitionMove) -> admin_pb2.PartitionMoveStatus:
    return admin_pb2.PartitionMoveStatus(
        topic=m.topic,
        partition=m.partition,
        replicas=list(m.replicas),
        adding=list(m.adding),
        removing=list(m.removing),
        throttle=m.throttle,
        bytes_left=m.bytes_left if m.bytes_left >= 0 else None,
    )
