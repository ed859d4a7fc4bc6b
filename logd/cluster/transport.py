"""Broker-to-broker transport: one long-lived stream of Raft frames per ordered broker pair,
and the internal gRPC service's unary calls.

A link's stream goes to the peer's Raft TCP listener (``--rpc-listen``: ``rpc_link``,
``rpc_listener``; issue 22: a gRPC stream write per frame cost a third of a broker's loop)
when the peer names one, else it is the internal service's gRPC ``Raft`` stream (an older
broker, or the listener off): :class:`Route` asks the peer (``RaftEndpoint``) once, keeps
the answer and asks again after a failure. Both streams are driven the same way, so what
follows holds for either.

``send`` (called by the driver at the end of a pass, on the loop) encodes one frame per
peer -- every group's messages together, heartbeats coalesced (``codec``) -- and queues it
on that peer's :class:`PeerLink`. A link's task writes frames to its stream in
order; when the stream fails (the peer is down, restarting, or unreachable) it tells the
driver (``report_unreachable``: leaders stop streaming to that peer and probe), reports
the fate of any snapshot it carried (``report_snapshot``), drops what was queued -- Raft
retransmits -- and reconnects with exponential backoff (50 ms doubling to 1 s).

A link opens its stream at once with an empty frame (a *hello*), retried with the same
backoff until it goes through, rather than at its first message: the peer's first frame of a
new stream is how it learns we (re)started (its leaders probe us, ``internal.py``). Waiting
for a message left a restarted follower unknown to a leader it had nothing to say to -- an
abstaining replica that lost data never campaigns -- for up to the controller's liveness
delay (7 s seen), with its repair waiting on that. A failed hello is not reported: only lost
messages make a peer unreachable.

Backpressure: a link holds at most ``MAX_QUEUED_MESSAGES`` messages and
``MAX_QUEUED_BYTES``; past either, new messages are dropped and the peer reported
unreachable, so a stalled peer (SIGSTOP) costs bounded memory while Raft's in-flight window
bounds what leaders send. What queued while a write was in flight goes out as one frame,
cut at ``MAX_FRAME_BYTES`` of entry data.

Faults (tests, ``--enable-fault-injection``): ``faults.blocked_to`` drops what we send to a
peer (as if the link failed); the internal handler (``internal.py``) drops what arrives from
``faults.blocked_from``.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Protocol

import grpc

from logd.cluster import rpc_link
from logd.cluster.codec import GroupMessage
from logd.cluster.frame_encode import HEADER_ROOM, encode_frame_bytes
from logd.cluster.internal import FaultState
from logd.errors import BrokerUnavailableError, NotControllerError
from logd.metadata.types import HostPort
from logd.tls.contexts import client_context
from logd.tls.settings import TlsSettings
from logd.v1 import admin_pb2, cluster_pb2, cluster_pb2_grpc
from replication import AppendRequest, SnapshotRequest

__all__ = ["GrpcTransport", "PeerLink", "RaftStream", "Reporter", "Route"]

_log = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES: Final = 100_000
MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
BACKOFF_MIN_S: Final = 0.05
BACKOFF_MAX_S: Final = 1.0
RPC_TIMEOUT_S: Final = 5.0


class Reporter:
    """What a link tells the driver (kept small so tests can stand in for it)."""

    def __init__(
        self,
        unreachable: Callable[..., None],
        snapshot: Callable[[str, int, bool], None],
        reachable: Callable[[int], None] = lambda peer: None,
    ) -> None:
        #: ``unreachable(peer, slow=..., why=...)``: ``slow`` when only its queue is full.
        self.unreachable = unreachable
        self.snapshot = snapshot
        #: A write went through again after the peer was reported unreachable.
        self.reachable = reachable


def _data_size(m: Any) -> int:
    if isinstance(m, AppendRequest):
        return sum(len(e.data) for e in m.entries)
    if isinstance(m, SnapshotRequest):
        return len(m.snapshot.data)
    return 0


def split(messages: list[GroupMessage]) -> Iterator[list[GroupMessage]]:
    """Cut a peer's messages into frames of at most MAX_FRAME_BYTES of payload."""
    chunk: list[GroupMessage] = []
    size = 0
    for item in messages:
        n = _data_size(item[1])
        if chunk and size + n > MAX_FRAME_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


class RaftStream(Protocol):
    """What a link writes frames on: the gRPC ``Raft`` call, or a ``rpc_link`` connection.
    A frame is a ``RaftFrame``'s bytes after ``HEADER_ROOM`` free bytes (``frame_encode``)."""

    async def write(self, frame: bytearray) -> None: ...

    def cancel(self) -> None: ...


class _GrpcRaftCall:
    """The internal service's ``Raft`` stream opened without a serializer: frames go out as
    the bytes ``frame_encode`` wrote (what protobuf would have serialized)."""

    def __init__(self, call: Any) -> None:
        self._call = call

    async def write(self, frame: bytearray) -> None:
        await self._call.write(bytes(memoryview(frame)[HEADER_ROOM:]))

    def cancel(self) -> None:
        self._call.cancel()


class Route:
    """How frames reach one peer: over its Raft TCP listener when it has one, else over the
    internal gRPC service's ``Raft`` stream (an older broker, or ``--rpc-listen off``).

    The listener's address is asked once over the gRPC channel (``RaftEndpoint``), kept, and
    asked again after the link failed (the peer may have restarted with another address or
    without the listener). Asking is part of opening the stream: when the peer cannot be
    asked, opening fails as a gRPC stream's first write would.
    """

    def __init__(
        self,
        src: int,
        dst: int,
        channel: grpc.aio.Channel,
        metadata: tuple[tuple[str, str], ...],
        *,
        cluster_id: str,
        tls: ssl.SSLContext | None,
    ) -> None:
        self._src = src
        self._dst = dst
        self._stub = cluster_pb2_grpc.ClusterInternalStub(channel)  # type: ignore[no-untyped-call]
        self._raft = channel.stream_unary(
            "/logd.v1.ClusterInternal/Raft",
            request_serializer=None,
            response_deserializer=cluster_pb2.RaftStreamEnd.FromString,
        )
        self._metadata = metadata
        self._cluster_id = cluster_id
        self._tls = tls
        #: The peer's answer ("" : it takes frames over gRPC only); None: to be asked.
        self._endpoint: str | None = None
        #: How the last stream that opened went ("tcp HOST:PORT" or "grpc"), for the log.
        self.kind = ""

    async def open(self) -> RaftStream:
        if self._endpoint is None:
            self._endpoint = await self._ask()
        endpoint = self._endpoint
        stream: RaftStream
        if endpoint:
            host, _, port = endpoint.rpartition(":")
            stream = await rpc_link.open_connection(
                HostPort(host.strip("[]"), int(port)), src=self._src, dst=self._dst,
                cluster_id=self._cluster_id, tls=self._tls, timeout_s=_CONNECT_TIMEOUT_MS / 1000,
            )  # fmt: skip
            kind = f"tcp {endpoint}"
        else:
            stream = _GrpcRaftCall(self._raft(metadata=self._metadata))
            kind = "the gRPC stream"
        if kind != self.kind:
            _log.info("raft link to broker %d: %s", self._dst, kind)
            self.kind = kind
        return stream

    async def _ask(self) -> str:
        try:
            response: cluster_pb2.RaftEndpointResponse = await self._stub.RaftEndpoint(
                cluster_pb2.RaftEndpointRequest(), timeout=RPC_TIMEOUT_S, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return ""  # a broker from before the listener
            raise
        address = response.address
        host, sep, port = address.rpartition(":")
        if address and not (sep and host and port.isdigit() and int(port) <= 65535):
            _log.warning("broker %d names a bad raft address %r: gRPC it is", self._dst, address)
            return ""
        return address

    def failed(self) -> None:
        """The stream failed: ask the peer again next time."""
        self._endpoint = None


class PeerLink:
    """The stream to one peer and what waits to go on it. Owned by the loop.

    Messages wait as messages, not frames: each write takes everything that queued up
    while the previous one was in flight and sends it as one frame (cut at
    MAX_FRAME_BYTES), so under load frames grow instead of queueing up -- one write per
    round trip (a TCP frame or a gRPC stream message, as :class:`Route` opened the stream),
    however many passes of the driver fed it.
    """

    def __init__(self, src: int, dst: int, route: Route, reporter: Reporter) -> None:
        self.src = src
        self.dst = dst
        self._route = route
        self._reporter = reporter
        self._messages: list[GroupMessage] = []
        self._losses: list[tuple[str, int]] = []
        self._bytes = 0
        self._wakeup = asyncio.Event()
        self._failed = False  # reported unreachable since the last write that went through
        self._hello = True  # the stream's opening frame is still to go (module doc)
        self._wakeup.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"raft-link-{dst}")
        self.frames_sent = 0

    def enqueue(
        self, messages: list[GroupMessage], losses: list[tuple[str, int]] | None = None
    ) -> None:
        size = sum(_data_size(m) for _, m in messages) + 64 * len(messages)
        if len(self._messages) >= MAX_QUEUED_MESSAGES or self._bytes + size > MAX_QUEUED_BYTES:
            # The peer reads slower than we send: alive, maybe, only busy (down_peers.py).
            self.drop(messages, f"{len(self._messages)} messages queued", slow=True)
            return
        self._messages.extend(messages)
        if losses:
            self._losses = list(losses)
        self._bytes += size
        self._wakeup.set()

    def drop(self, messages: list[GroupMessage], why: str, *, slow: bool = False) -> None:
        """``messages`` will not reach the peer: it is reported unreachable, ``why`` (and
        reported reachable again when a write goes through)."""
        self._failed = True
        self._reporter.unreachable(self.dst, slow=slow, why=why)
        for group, m in messages:
            if isinstance(m, SnapshotRequest):
                self._reporter.snapshot(group, self.dst, False)

    def _take(self) -> tuple[list[GroupMessage], list[tuple[str, int]]]:
        messages, self._messages = self._messages, []
        losses, self._losses = self._losses, []
        self._bytes = 0
        return messages, losses

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            call: RaftStream | None = None
            messages: list[GroupMessage] = []
            try:
                call = await self._route.open()
                if self._hello:
                    await call.write(encode_frame_bytes(self.src, self.dst, ()))
                    self._hello = False
                    self.frames_sent += 1
                while True:
                    while self._messages:
                        messages, losses = self._take()
                        for chunk in split(messages):
                            await call.write(encode_frame_bytes(self.src, self.dst, chunk, losses))
                            losses = []
                            self.frames_sent += 1
                        if self._failed:
                            self._failed = False
                            self._reporter.reachable(self.dst)
                        for group, m in messages:
                            if isinstance(m, SnapshotRequest):
                                self._reporter.snapshot(group, self.dst, True)
                        messages = []
                        backoff = BACKOFF_MIN_S
                    await self._wakeup.wait()
                    self._wakeup.clear()
            except asyncio.CancelledError:
                if call is not None:
                    call.cancel()
                raise
            except Exception as exc:  # the stream is gone (gRPC errors of every kind, OSError)
                if call is not None:
                    call.cancel()
                self._route.failed()
                why = f"stream failed: {_describe(exc)}"
                _log.debug("raft stream to %d: %s", self.dst, why)
                lost = messages + self._take()[0]
                if lost or not self._hello:
                    self.drop(lost, why)
                else:
                    self._wakeup.set()  # only the hello: say hello again after the backoff
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _describe(exc: Exception) -> str:
    """A failed stream's cause, in one short line (which source took a peer as down)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name} {exc.details() or ''}".strip()[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


#: One connection attempt to a peer may take this long (see channel_options).
_CONNECT_TIMEOUT_MS = 5_000


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 50),
        # Not a backoff: gRPC's minimum connect timeout. At 50 ms a loaded peer (or a TLS
        # handshake) failed the attempt; a peer that is down refuses at once anyway.
        ("grpc.min_reconnect_backoff_ms", _CONNECT_TIMEOUT_MS),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def identity(cluster_id: str, node_id: int) -> tuple[tuple[str, str], ...]:
    """What this broker presents to its peers on every call: the cluster's id and our node id
    (``logd-cluster-id``, ``logd-node-id``), which a peer without TLS requires; with TLS our
    certificate (``CN=broker-<id>``) is what counts. Passed as call metadata (not by an
    interceptor: grpc.aio's intercepted client streams fail their writes)."""
    return (("logd-cluster-id", cluster_id), ("logd-node-id", str(node_id)))


def _credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """mTLS to a peer: verify it with our CA, present our broker certificate."""
    assert tls.cert is not None and tls.key is not None
    ca = tls.ca.read_bytes() if tls.ca is not None else None
    return grpc.ssl_channel_credentials(ca, tls.key.read_bytes(), tls.cert.read_bytes())


class GrpcTransport:
    """Links to every peer, and the unary calls of the internal service."""

    def __init__(
        self,
        node_id: int,
        peers: Mapping[int, str],
        reporter: Reporter,
        faults: FaultState,
        *,
        max_message_bytes: int,
        cluster_id: str = "",
        tls: TlsSettings | None = None,
    ) -> None:
        self.node_id = node_id
        self.faults = faults
        self._reporter = reporter
        self._options = channel_options(max_message_bytes)
        self._identity = identity(cluster_id, node_id)
        self._credentials = _credentials(tls) if tls is not None else None
        self._cluster_id = cluster_id
        #: The Raft TCP links' TLS (``rpc_link``): our CA, our broker certificate.
        self._raft_tls = client_context(tls) if tls is not None else None
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._links: dict[int, PeerLink] = {}
        for peer, address in peers.items():
            self.add_peer(peer, address)

    def add_peer(self, peer: int, address: str) -> None:
        """A link to ``peer`` at ``address`` (``HOST:PORT``), unless it has one: a configured
        peer, or a broker that joined since (issue 23)."""
        if peer == self.node_id or peer in self._channels:
            return
        credentials = self._credentials
        channel = (
            grpc.aio.secure_channel(address, credentials, self._options)
            if credentials is not None
            else grpc.aio.insecure_channel(address, self._options)
        )
        self._channels[peer] = channel
        route = Route(
            self.node_id, peer, channel, self._identity,
            cluster_id=self._cluster_id, tls=self._raft_tls,
        )  # fmt: skip
        self._links[peer] = PeerLink(self.node_id, peer, route, self._reporter)

    @property
    def peers(self) -> frozenset[int]:
        """The brokers this one has a link to."""
        return frozenset(self._channels)

    def send(
        self,
        outgoing: dict[int, list[GroupMessage]],
        losses: dict[int, list[tuple[str, int]]] | None = None,
    ) -> None:
        for dst, messages in outgoing.items():
            link = self._links.get(dst)
            if link is not None and dst in self.faults.blocked_to:
                # reachable again at the first write after the block
                link.drop(messages, "blocked (fault injection)")
                continue
            if link is None:
                self._reporter.unreachable(dst, why="no link")
                for group, m in messages:
                    if isinstance(m, SnapshotRequest):
                        self._reporter.snapshot(group, dst, False)
                continue
            link.enqueue(messages, (losses or {}).get(dst))

    def _stub(self, node: int) -> cluster_pb2_grpc.ClusterInternalStub:
        channel = self._channels.get(node)
        if channel is None or node in self.faults.blocked_to:
            raise BrokerUnavailableError(f"broker {node} is not reachable from {self.node_id}")
        return cluster_pb2_grpc.ClusterInternalStub(channel)  # type: ignore[no-untyped-call]

    async def controller_write(
        self, node: int, request: cluster_pb2.ControllerWriteRequest
    ) -> cluster_pb2.ControllerWriteResponse:
        try:
            response: cluster_pb2.ControllerWriteResponse = await self._stub(node).ControllerWrite(
                request, timeout=35.0, metadata=self._identity
            )
        except grpc.aio.AioRpcError as exc:
            raise NotControllerError(
                f"controller {node} did not answer: {exc.code().name}"
            ) from None
        return response

    async def heartbeat(
        self, node: int, request: cluster_pb2.BrokerHeartbeatRequest
    ) -> cluster_pb2.BrokerHeartbeatResponse:
        try:
            response: cluster_pb2.BrokerHeartbeatResponse = await self._stub(node).BrokerHeartbeat(
                request, timeout=RPC_TIMEOUT_S, metadata=self._identity
            )
        except grpc.aio.AioRpcError as exc:
            raise BrokerUnavailableError(f"broker {node}: {exc.code().name}") from None
        return response

    async def join(self, node: int, request: cluster_pb2.JoinRequest) -> None:
        """Ask ``node`` to let this broker join the cluster (``logd.cluster.joining``)."""
        try:
            await self._stub(node).Join(request, timeout=35.0, metadata=self._identity)
        except grpc.aio.AioRpcError as exc:
            raise BrokerUnavailableError(
                f"broker {node} did not take the join: {exc.code().name} {exc.details()}"
            ) from None

    async def transfer_leadership(
        self, node: int, request: cluster_pb2.ForwardedTransfer
    ) -> admin_pb2.TransferLeadershipResponse:
        """Forward an operator's transfer to ``node``, the partition's leader (it waits for
        the new leader: the deadline covers the request's own timeout)."""
        timeout = request.request.timeout_ms / 1000.0 + RPC_TIMEOUT_S
        try:
            response: admin_pb2.TransferLeadershipResponse = await self._stub(
                node
            ).TransferLeadership(request, timeout=timeout, metadata=self._identity)
        except grpc.aio.AioRpcError as exc:
            raise BrokerUnavailableError(
                f"broker {node}, the leader, did not answer: {exc.code().name}"
            ) from None
        return response

    async def close(self) -> None:
        for link in self._links.values():
            await link.close()
        for channel in self._channels.values():
            with contextlib.suppress(Exception):
                await channel.close(None)
