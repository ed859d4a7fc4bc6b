"""How a link picks its route to a peer (``transport.Route``), against real servers: a peer
whose internal gRPC service names a Raft TCP listener gets frames over TCP; one that answers
UNIMPLEMENTED (a broker from before the listener) or an empty address gets them over its
gRPC ``Raft`` stream; the answer is kept until the link fails, then asked again."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import uvloop

from logd.cluster.frame_encode import encode_frame_bytes
from logd.cluster.internal import ClusterHandler, FaultState
from logd.cluster.rpc_link import RaftConnection
from logd.cluster.rpc_listener import RaftListener, RaftListenerSettings
from logd.cluster.transport import Route, identity
from logd.metadata.types import HostPort
from logd.v1 import cluster_pb2
from tests.helpers import free_port

CLUSTER = "c1"


class Peer:
    """Broker 0's internal service as far as a route sees it: ``RaftEndpoint`` (unless
    ``old``: then UNIMPLEMENTED) answering ``endpoint``, and the ``Raft`` stream."""

    def __init__(self, *, old: bool) -> None:
        self.endpoint = ""
        self.asked = 0
        self.streamed: list[int] = []
        self.port = free_port()
        handlers: dict[str, Any] = {
            "Raft": grpc.stream_unary_rpc_method_handler(
                self._raft, cluster_pb2.RaftFrame.FromString,
                cluster_pb2.RaftStreamEnd.SerializeToString,
            ),
        }  # fmt: skip
        if not old:
            handlers["RaftEndpoint"] = grpc.unary_unary_rpc_method_handler(
                self._ask, cluster_pb2.RaftEndpointRequest.FromString,
                cluster_pb2.RaftEndpointResponse.SerializeToString,
            )  # fmt: skip
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("logd.v1.ClusterInternal", handlers),)
        )
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    async def _ask(self, request: Any, context: Any) -> cluster_pb2.RaftEndpointResponse:
        self.asked += 1
        return cluster_pb2.RaftEndpointResponse(address=self.endpoint)

    async def _raft(self, frames: Any, context: Any) -> cluster_pb2.RaftStreamEnd:
        async for frame in frames:
            self.streamed.append(frame.src)
        return cluster_pb2.RaftStreamEnd()


async def _route_to(peer: Peer) -> tuple[Route, grpc.aio.Channel]:
    await peer.server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{peer.port}")
    route = Route(1, 0, channel, identity(CLUSTER, 1), cluster_id=CLUSTER, tls=None)
    return route, channel


async def _until(condition: Any) -> None:
    async with asyncio.timeout(20):
        while not condition():
            await asyncio.sleep(0.01)


def test_an_older_broker_or_one_without_the_listener_gets_the_grpc_stream() -> None:
    async def scenario(old: bool) -> None:
        peer = Peer(old=old)
        route, channel = await _route_to(peer)
        try:
            stream = await route.open()
            assert not isinstance(stream, RaftConnection)
            await stream.write(encode_frame_bytes(1, 0, ()))
            await _until(lambda: peer.streamed == [1])
            stream.cancel()
            assert route.kind == "the gRPC stream"
            assert peer.asked == (0 if old else 1)
        finally:
            await channel.close()
            await peer.server.stop(0)

    for old in (True, False):
        uvloop.run(scenario(old))


def test_a_named_listener_gets_tcp_and_the_answer_is_asked_again_after_a_failure() -> None:
    async def scenario() -> None:
        peer = Peer(old=False)
        received: list[int] = []
        handler = ClusterHandler(
            lambda messages: None, _unused, _unused, _unused, FaultState(),
            fault_injection=False, peer_connected=received.append,
        )  # fmt: skip
        settings = RaftListenerSettings(HostPort("127.0.0.1", free_port()), 0, CLUSTER, 1 << 20)
        listener = RaftListener(settings, handler, {0, 1})
        peer.endpoint = str(await listener.start())
        route, channel = await _route_to(peer)
        try:
            first = await route.open()
            assert isinstance(first, RaftConnection)
            await first.write(encode_frame_bytes(1, 0, ()))
            await _until(lambda: received == [1])
            second = await route.open()  # kept: not asked again
            assert isinstance(second, RaftConnection) and peer.asked == 1
            second.cancel()
            route.failed()  # the link failed: ask again (the listener is gone meanwhile)
            peer.endpoint = ""
            third = await route.open()
            assert not isinstance(third, RaftConnection) and peer.asked == 2
            third.cancel()
            first.cancel()
        finally:
            await listener.close()
            await channel.close()
            await peer.server.stop(0)

    uvloop.run(scenario())


async def _unused(request: Any) -> Any:
    raise AssertionError("not called")
