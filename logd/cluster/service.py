"""The gRPC servicer of ``logd.v1.ClusterInternal`` (thin: decode, hand over, answer).

* ``Raft`` (client stream): each frame is decoded (``codec``) and given to the driver;
  frames from peers blocked by fault injection are dropped; a malformed frame ends the
  stream with INVALID_REQUEST (the sender reconnects).
* ``ControllerWrite``: the controller store carries the write out (or answers
  NOT_CONTROLLER inside the response).
* ``BrokerHeartbeat``: the liveness module answers with the leader/ISR table.
* ``TransferLeadership``: an operator's transfer forwarded by another broker; this one
  serves it if it leads, never forwards it again (``leadership.py``).
* ``InjectFault``: only with ``--enable-fault-injection`` (else UNIMPLEMENTED-like
  INVALID_REQUEST).

The service is unauthenticated (see the proto). Ownership: on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.cluster.codec import GroupMessage, decode_frame, decode_losses
from logd.cluster.transport import FaultState
from logd.errors import BrokerUnavailableError, InvalidRequestError, LogdError
from logd.metadata.types import LeadershipResult
from logd.server.convert import transfer_response
from logd.server.errors import abort, translate
from logd.server.handlers import Malformed, service_handler
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
    """Dispatches the internal RPCs to the parts that answer them."""

    def __init__(
        self,
        receive: Callable[[list[GroupMessage]], None],
        controller_write: Callable[[Any], Awaitable[Any]],
        heartbeat: Callable[[Any], Awaitable[Any]],
        transfer: Callable[[Any], Awaitable[LeadershipResult]],
        faults: FaultState,
        *,
        fault_injection: bool,
        peer_connected: Callable[[int], None] = lambda peer: None,
        data_loss: Callable[[int, list[tuple[str, int]]], None] = lambda peer, losses: None,
    ) -> None:
        self._data_loss = data_loss
        self._receive = receive
        self._peer_connected = peer_connected
        self._controller_write = controller_write
        self._heartbeat = heartbeat
        self._transfer = transfer
        self._faults = faults
        self._fault_injection = fault_injection
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
                "ControllerWrite": unary(
                    self.controller_write, cluster_pb2.ControllerWriteRequest, "ControllerWrite"
                ),
                "BrokerHeartbeat": unary(
                    self.broker_heartbeat, cluster_pb2.BrokerHeartbeatRequest, "BrokerHeartbeat"
                ),
                "TransferLeadership": unary(
                    self.transfer_leadership, cluster_pb2.ForwardedTransfer, "TransferLeadership"
                ),
                "InjectFault": unary(self.inject_fault, cluster_pb2.FaultRequest, "InjectFault"),
            },
        )

    async def raft(self, frames: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        if self._draining:
            await abort(context, BrokerUnavailableError("the broker is shutting down"))
        task = asyncio.current_task()
        assert task is not None
        self._streams[task] = context
        try:
            return await self._read(frames, context)
        finally:
            self._streams.pop(task, None)

    async def _read(self, frames: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        first = True
        async for frame in frames:
            if isinstance(frame, Malformed):
                await abort(context, frame.error())
            if first:
                first = False
                # A new stream from a peer: it may have restarted and lost what it had
                # acknowledged (a cut segment): leaders probe it again.
                self._peer_connected(frame.src)
            if frame.src in self._faults.blocked_from:
                continue
            try:
                messages = decode_frame(frame)
                losses = decode_losses(frame)
            except LogdError as exc:
                await abort(context, exc)
            self._receive(messages)
            if losses:
                self._data_loss(frame.src, losses)
        return cluster_pb2.RaftStreamEnd()

    def _check_blocked(self, src: int) -> None:
        if src in self._faults.blocked_from:
            raise BrokerUnavailableError(f"traffic from broker {src} is blocked (fault injection)")

    async def controller_write(self, request: Any, context: Any) -> Any:
        self._check_blocked(request.src)
        return await self._controller_write(request)

    async def broker_heartbeat(self, request: Any, context: Any) -> Any:
        self._check_blocked(request.node_id)
        return await self._heartbeat(request)

    async def transfer_leadership(self, request: Any, context: Any) -> Any:
        self._check_blocked(request.src)
        return transfer_response(await self._transfer(request))

    async def inject_fault(self, request: Any, context: Any) -> Any:
        if not self._fault_injection:
            raise InvalidRequestError(
                "fault injection is off (start with --enable-fault-injection)"
            )
        faults = self._faults
        if request.clear:
            faults.blocked_to.clear()
            faults.blocked_from.clear()
        faults.blocked_to.update(request.block_to)
        faults.blocked_from.update(request.block_from)
        return cluster_pb2.FaultResponse(
            blocked_to=sorted(faults.blocked_to), blocked_from=sorted(faults.blocked_from)
        )
