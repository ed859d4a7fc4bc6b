"""The gRPC servicer of ``logd.v1.ClusterInternal`` (thin: decode, hand over, answer).

Every call goes to the cluster's protocol-neutral :class:`~logd.cluster.internal.ClusterHandler`
(what each call means is written there); this module owns what is gRPC's: the method
handlers, the Raft streams in flight (ended at shutdown: they never end by themselves), and
the mapping of errors to status codes (``errors.translate``). A malformed frame ends its
stream with INVALID_REQUEST (the sender reconnects).

Only brokers of the cluster reach it (``auth.Authentication``; the proto says how they
prove it). Ownership: on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.cluster.internal import ClusterHandler
from logd.errors import BrokerUnavailableError, LogdError
from logd.frontends.grpc.convert import transfer_response
from logd.frontends.grpc.errors import abort, translate
from logd.frontends.grpc.handlers import Malformed, service_handler
from logd.v1 import cluster_pb2

__all__ = ["CLUSTER_SERVICE", "ClusterService"]

_log = logging.getLogger(__name__)

CLUSTER_SERVICE = cluster_pb2.DESCRIPTOR.services_by_name["ClusterInternal"].full_name


def _parse(message_type: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError as exc:
            return Malformed(message_type.DESCRIPTOR.full_name, str(exc))

    return parse


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


class ClusterService:
    """The internal service over one :class:`ClusterHandler`."""

    def __init__(self, handler: ClusterHandler) -> None:
        self._handler = handler
        self._streams: dict[asyncio.Task[Any], grpc.aio.ServicerContext] = {}
        self._draining = False
        self._ending: set[asyncio.Future[None]] = set()

    def drain(self) -> None:
        """Shutting down: end every incoming Raft stream now (they never end by
        themselves, and the server's grace period would wait for them)."""
        self._draining = True
        _log.debug("ending %d incoming raft streams", len(self._streams))
        for task, context in list(self._streams.items()):
            ending = asyncio.ensure_future(self._end(task, context))
            self._ending.add(ending)
            ending.add_done_callback(self._ending.discard)

    @staticmethod
    async def _end(task: asyncio.Task[Any], context: grpc.aio.ServicerContext) -> None:
        with contextlib.suppress(Exception):  # AbortError, or the call ended meanwhile
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the broker is shutting down")
        task.cancel()

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: Callable[[Any, Any], Awaitable[Any]], kind: Any, name: str) -> Any:
            async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
                if isinstance(request, Malformed):
                    await abort(context, request.error())
                async with translate(context, name):
                    return await fn(request, context)

            return grpc.unary_unary_rpc_method_handler(
                handle, request_deserializer=_parse(kind), response_serializer=_serialize
            )

        return service_handler(
            CLUSTER_SERVICE,
            {
                "Raft": grpc.stream_unary_rpc_method_handler(
                    self.raft,
                    request_deserializer=_parse(cluster_pb2.RaftFrame),
                    response_serializer=_serialize,
                ),
                "RaftEndpoint": unary(
                    self._raft_endpoint, cluster_pb2.RaftEndpointRequest, "RaftEndpoint"
                ),
                "ControllerWrite": unary(
                    self._controller_write, cluster_pb2.ControllerWriteRequest, "ControllerWrite"
                ),
                "BrokerHeartbeat": unary(
                    self._broker_heartbeat, cluster_pb2.BrokerHeartbeatRequest, "BrokerHeartbeat"
                ),
                "TransferLeadership": unary(
                    self._transfer_leadership, cluster_pb2.ForwardedTransfer, "TransferLeadership"
                ),
                "InjectFault": unary(self._inject_fault, cluster_pb2.FaultRequest, "InjectFault"),
                "Join": unary(self._join, cluster_pb2.JoinRequest, "Join"),
            },
        )

    async def raft(self, frames: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        if self._draining:
            await abort(context, BrokerUnavailableError("the broker is shutting down"))
        task = asyncio.current_task()
        assert task is not None
        self._streams[task] = context
        peer: list[int] = []
        try:
            return await self._read(frames, context, peer)
        finally:
            self._streams.pop(task, None)
            if peer:
                self._handler.raft_stream_ended(peer[0])

    async def _read(
        self, frames: AsyncIterator[Any], context: grpc.aio.ServicerContext, peer: list[int]
    ) -> Any:
        async for frame in frames:
            if isinstance(frame, Malformed):
                await abort(context, frame.error())
            first = not peer
            if first:
                peer.append(frame.src)  # from now on, its end is reported (raft_stream_ended)
            try:
                self._handler.raft_frame(frame, first=first)
            except LogdError as exc:
                await abort(context, exc)
        return cluster_pb2.RaftStreamEnd()

    async def _raft_endpoint(self, request: Any, context: Any) -> Any:
        return cluster_pb2.RaftEndpointResponse(address=self._handler.raft_endpoint)

    async def _join(self, request: Any, context: Any) -> Any:
        await self._handler.join(request)
        return cluster_pb2.JoinResponse()

    async def _controller_write(self, request: Any, context: Any) -> Any:
        return await self._handler.controller_write(request)

    async def _broker_heartbeat(self, request: Any, context: Any) -> Any:
        return await self._handler.broker_heartbeat(request)

    async def _transfer_leadership(self, request: Any, context: Any) -> Any:
        return transfer_response(await self._handler.transfer_leadership(request))

    async def _inject_fault(self, request: Any, context: Any) -> Any:
        return await self._handler.inject_fault(request)
