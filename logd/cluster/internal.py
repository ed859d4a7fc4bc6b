"""What the internal service (``logd.v1.ClusterInternal``) asks of this broker, without the
transport: a front end (``logd.frontends.grpc.cluster_service``) decodes the call, hands the
message here and writes the answer back.

* :meth:`ClusterHandler.raft_frame` — one frame of a peer's Raft stream: decoded (``codec``)
  and given to the driver; frames from peers blocked by fault injection are dropped; a
  malformed frame raises its ``LogdError`` (the front end ends the stream with it);
  :meth:`~ClusterHandler.raft_stream_ended` — the stream is gone (the peer died, or
  restarts): the driver treats it as lost contact.
* :meth:`~ClusterHandler.controller_write` — the controller store carries the write out (or
  answers NOT_CONTROLLER inside the response).
* :meth:`~ClusterHandler.broker_heartbeat` — the liveness module answers with the
  leader/ISR table.
* :meth:`~ClusterHandler.transfer_leadership` — an operator's transfer forwarded by another
  broker; this one serves it if it leads, never forwards it again (``leadership.py``).
* :meth:`~ClusterHandler.inject_fault` — only with ``--enable-fault-injection``.
* :attr:`~ClusterHandler.raft_endpoint` — where this broker's Raft TCP listener takes frames
  (``rpc_listener``; "" while it is off): the answer to a peer's ``RaftEndpoint``.

The messages are the cluster's own protobufs (``logd.v1.cluster_pb2``: its wire and log
format, as ``codec`` defines it); nothing here knows gRPC. Ownership: the broker's loop.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
from collections.abc import Awaitable, Callable
from typing import Any

from logd.cluster.codec import GroupMessage, decode_frame, decode_losses
from logd.errors import BrokerUnavailableError, InvalidRequestError
from logd.metadata.types import LeadershipResult
from logd.storage.faults import FAULTS
from logd.v1 import cluster_pb2

__all__ = ["ClusterHandler", "FaultState"]


@dataclasses.dataclass
class FaultState:
    """Peers whose traffic is blocked (tests only): ``blocked_to`` drops what we send
    (``transport``), ``blocked_from`` what arrives (:class:`ClusterHandler`)."""

    blocked_to: set[int] = dataclasses.field(default_factory=set)
    blocked_from: set[int] = dataclasses.field(default_factory=set)


class ClusterHandler:
    """Dispatches the internal calls to the parts that answer them."""

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
        peer_lost: Callable[[int], None] = lambda peer: None,
        data_loss: Callable[[int, list[tuple[str, int]]], None] = lambda peer, losses: None,
        join: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self._join = join
        self._peer_lost = peer_lost
        self._data_loss = data_loss
        self._receive = receive
        self._peer_connected = peer_connected
        self._controller_write = controller_write
        self._heartbeat = heartbeat
        self._transfer = transfer
        self._faults = faults
        self._fault_injection = fault_injection
        #: peer -> its Raft streams open here (a restarted peer's new stream may come
        #: before the old one's end is seen: only the last one's end is lost contact).
        self._streams: collections.Counter[int] = collections.Counter()
        #: ``HOST:PORT`` of the Raft TCP listener once it listens ("" : it is off).
        self.raft_endpoint = ""

    def raft_frame(self, frame: Any, *, first: bool) -> None:
        """One frame of an incoming Raft stream (``first``: the stream's first)."""
        if first:
            # A new stream from a peer: it may have restarted and lost what it had
            # acknowledged (a cut segment): leaders probe it again.
            self._streams[frame.src] += 1
            self._peer_connected(frame.src)
        if frame.src in self._faults.blocked_from:
            return
        messages = decode_frame(frame)
        losses = decode_losses(frame)
        self._receive(messages)
        if losses:
            self._data_loss(frame.src, losses)

    def raft_stream_ended(self, src: int) -> None:
        """The Raft stream from ``src`` ended -- broken, as when its process died: its quiet
        groups must not wait for the controller's liveness to notice (issue 21) -- unless
        another stream from it is open (it restarted and reconnected first)."""
        self._streams[src] -= 1
        if self._streams[src] <= 0:
            del self._streams[src]
            self._peer_lost(src)

    def _check_blocked(self, src: int) -> None:
        if src in self._faults.blocked_from:
            raise BrokerUnavailableError(f"traffic from broker {src} is blocked (fault injection)")

    async def controller_write(self, request: Any) -> Any:
        self._check_blocked(request.src)
        return await self._controller_write(request)

    async def join(self, request: Any) -> None:
        """A broker no peer list names asks to join (``logd.cluster.joining``)."""
        if self._join is None:
            raise InvalidRequestError("this broker takes no joining brokers")
        await self._join(request)

    async def broker_heartbeat(self, request: Any) -> Any:
        self._check_blocked(request.node_id)
        return await self._heartbeat(request)

    async def transfer_leadership(self, request: Any) -> LeadershipResult:
        self._check_blocked(request.src)
        return await self._transfer(request)

    async def inject_fault(self, request: Any) -> Any:
        if not self._fault_injection:
            raise InvalidRequestError(
                "fault injection is off (start with --enable-fault-injection)"
            )
        faults = self._faults
        if request.clear:
            faults.blocked_to.clear()
            faults.blocked_from.clear()
            FAULTS.clear()
        faults.blocked_to.update(request.block_to)
        faults.blocked_from.update(request.block_from)
        if request.disk_fail_count > 0:
            if request.disk_fail_errno not in errno.errorcode:
                raise InvalidRequestError(f"unknown errno {request.disk_fail_errno}")
            arm = FAULTS.fail_fsyncs if request.disk_fail_fsync else FAULTS.fail_writes
            arm(request.disk_fail_path, request.disk_fail_errno, request.disk_fail_count)
        if request.HasField("fsync_delay_ms"):
            FAULTS.set_fsync_delay(max(0, request.fsync_delay_ms) / 1000.0)
        return cluster_pb2.FaultResponse(
            blocked_to=sorted(faults.blocked_to), blocked_from=sorted(faults.blocked_from),
            disk_faults_pending=FAULTS.pending(), disk_faults_fired=FAULTS.fired,
        )  # fmt: skip
