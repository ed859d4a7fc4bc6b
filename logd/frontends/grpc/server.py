"""The gRPC front end: one ``grpc.aio`` server carrying the client services (``LogBroker``,
``LogAdmin``, ``GroupCoordinator``), the cluster's internal service (``ClusterInternal``),
the standard health service and server reflection.

It differs from the other front ends in one way: peers reach this broker's Raft groups
through it, so the node binds it (:meth:`GrpcFrontEnd.bind`: a port in use fails before the
data directory is touched) and starts it before the cluster forms; the health service says
SERVING only once the node serves (:meth:`GrpcFrontEnd.mark_serving`).

Stop (STYLE.md 14; grpc's ``async_greeter_server_with_graceful_shutdown``):
:meth:`~GrpcFrontEnd.begin_drain` -- health says NOT_SERVING, produce streams stop reading
(their unanswered requests were never appended); then (the node drains the core meanwhile)
:meth:`~GrpcFrontEnd.stop` -- ``server.stop(grace)`` refuses new calls and lets the ones in
flight finish until the grace period ends, then cancels them; the peers' Raft streams, which
never end by themselves, are ended once the client calls in flight are answered. A second
``stop`` (a second signal) cancels what is still in flight at once.

Ownership: everything runs on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Collection
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from logd.broker.seam import BrokerSeam
from logd.cluster.internal import ClusterHandler
from logd.errors import InvalidConfigError
from logd.frontends.grpc.auth import Authentication
from logd.frontends.grpc.cluster_service import CLUSTER_SERVICE, ClusterService
from logd.frontends.grpc.forward_service import FORWARD_SERVICE, ForwardService
from logd.frontends.grpc.group_service import GROUP_SERVICE, GroupCoordinatorService
from logd.frontends.grpc.handlers import LISTENER
from logd.frontends.grpc.security_service import SECURITY_SERVICE, SecurityService
from logd.frontends.grpc.services import ADMIN_SERVICE, BROKER_SERVICE, AdminService, BrokerService
from logd.frontends.grpc.tls import server_credentials
from logd.metadata.types import HostPort
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["GrpcFrontEnd"]

#: Room above max.request.bytes for the envelope of a fetch answer (topics, offsets).
_SEND_SLACK_BYTES: Final = 1024 * 1024
_SERVICES: Final = (
    BROKER_SERVICE, ADMIN_SERVICE, GROUP_SERVICE, SECURITY_SERVICE, CLUSTER_SERVICE,
    FORWARD_SERVICE,
)  # fmt: skip


class GrpcFrontEnd:
    """:meth:`bind`, :meth:`attach`, :meth:`start`, :meth:`mark_serving`, then
    :meth:`begin_drain` and :meth:`stop` (the node's ``FrontEnd`` protocol)."""

    name = LISTENER

    def __init__(
        self,
        listen: HostPort,
        *,
        max_request_bytes: int,
        max_in_flight: int,
        tls: TlsSettings | None = None,
        cluster_id: str = "",
        brokers: Collection[int] = (),
    ) -> None:
        self._listen = listen
        self._max_in_flight = max_in_flight
        self.address: HostPort | None = None
        self._tls = TlsFiles(tls) if tls is not None and tls.enabled else None
        #: Authenticates every call; refuses non-brokers on the internal service.
        self._auth = Authentication(
            cluster_id=cluster_id, brokers=brokers, tls=self._tls is not None
        )
        self._server = grpc.aio.server(
            interceptors=[self._auth],
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.max_send_message_length", max_request_bytes + _SEND_SLACK_BYTES),
                # gRPC sets SO_REUSEPORT by default: two brokers could then share a port.
                ("grpc.so_reuseport", 0),
            ],
        )
        self._health = health.aio.HealthServicer()
        self._broker: BrokerService | None = None
        self._cluster: ClusterService | None = None
        self._idle: Callable[[], bool] = lambda: True
        self._draining: asyncio.Future[None] | None = None
        self._stopping: asyncio.Future[None] | None = None

    def bind(self) -> HostPort:
        """Bind the port (0: any free one) and return the address bound."""
        _check_bindable(self._listen)
        try:
            if self._tls is not None:
                port = self._server.add_secure_port(
                    str(self._listen), server_credentials(self._tls)
                )
            else:
                port = self._server.add_insecure_port(str(self._listen))
        except RuntimeError:  # lost a race with another process since the check
            raise _cannot_listen(self._listen, "in use") from None
        self.address = HostPort(self._listen.host, port)
        return self.address

    def allow_broker(self, node: int) -> None:
        """Broker ``node`` joined the cluster: its internal calls are answered (issue 23)."""
        self._auth.allow(node)

    def attach(
        self, seam: BrokerSeam, cluster: ClusterHandler, *, idle: Callable[[], bool]
    ) -> None:
        """Serve ``seam`` and the cluster's internal calls; ``idle`` says whether the
        cluster still has writes in flight that client calls wait for (shutdown)."""
        self._broker = BrokerService(seam, self._max_in_flight)
        self._cluster = ClusterService(cluster)
        self._idle = idle
        self._auth.attach(seam)
        self._server.add_generic_rpc_handlers(
            (
                self._broker.handler(),
                AdminService(seam).handler(),
                GroupCoordinatorService(seam).handler(),
                SecurityService(seam).handler(),
                self._cluster.handler(),
                ForwardService(seam).handler(),
            )
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (*_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    async def start(self) -> HostPort:
        """Start serving (health NOT_SERVING until :meth:`mark_serving`)."""
        address = self.address or self.bind()
        for name in ("", *_SERVICES):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        return address

    async def mark_serving(self) -> None:
        for name in ("", *_SERVICES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def begin_drain(self) -> None:
        """Health NOT_SERVING; produce streams stop reading and end once answered."""
        self._draining = asyncio.ensure_future(self._health.enter_graceful_shutdown())
        if self._broker is not None:
            self._broker.drain()

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls, let those in flight finish for ``grace_s``, then cancel them."""
        if self._stopping is not None:  # again: hurry
            await self._server.stop(0)
            await self._stopping
            return
        if self._draining is not None:
            await self._draining
        self._stopping = asyncio.ensure_future(self._server.stop(grace_s))
        await self._end_raft_streams_when_idle(grace_s)
        await self._stopping

    async def _end_raft_streams_when_idle(self, grace_s: float) -> None:
        """Peers' Raft streams never end by themselves, and the grace period would wait for
        them; yet until the client requests in flight are answered (an acks=all produce, a
        metadata write) replication must go on. So: wait for those, then end the streams."""
        if self._cluster is None or self._broker is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and (self._broker.busy or not self._idle()):
            await asyncio.sleep(0.01)
        self._cluster.drain()


def _cannot_listen(address: HostPort, why: str) -> InvalidConfigError:
    return InvalidConfigError(
        f"listen: cannot listen on {address} ({why}); pick another with --listen HOST:PORT"
    )


def _check_bindable(address: HostPort) -> None:
    """Bind the address once ourselves, so a port in use is one clear line from us rather
    than gRPC's own log line followed by ours."""
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _cannot_listen(address, exc.strerror or "unknown host") from None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                raise _cannot_listen(address, (exc.strerror or str(exc)).lower()) from None
