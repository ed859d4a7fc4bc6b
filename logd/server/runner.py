"""The broker process: the gRPC server around a :class:`~logd.broker.node.BrokerNode`.

Start: bind the port (so a port in use fails before the data directory is touched), open
the node, register the services (``LogBroker``, ``LogAdmin``, ``GroupCoordinator``, the
standard health service and server reflection), start serving, then report SERVING.

Stop (STYLE.md 14; grpc's ``async_greeter_server_with_graceful_shutdown``), in this order:
health says NOT_SERVING; waiting fetches answer with what they have, produce streams stop
reading (their unanswered requests were never appended) and the group coordinators unload
(parked JoinGroup/SyncGroup calls answer NOT_COORDINATOR: their members look elsewhere);
``server.stop(grace)`` refuses new calls and lets the ones in flight finish until the grace
period ends, then cancels them; then every log is flushed and closed and the clean-shutdown
marker written.

Ownership: everything runs on one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from logd.broker.config import BrokerConfig, HostPort
from logd.broker.node import BrokerNode
from logd.errors import InvalidConfigError
from logd.server.group_service import GROUP_SERVICE, GroupCoordinatorService
from logd.server.services import ADMIN_SERVICE, BROKER_SERVICE, AdminService, BrokerService

__all__ = ["BrokerServer"]

_log = logging.getLogger(__name__)

#: Room above max.request.bytes for the envelope of a fetch answer (topics, offsets).
_SEND_SLACK_BYTES: Final = 1024 * 1024
_SERVICES: Final = (BROKER_SERVICE, ADMIN_SERVICE, GROUP_SERVICE)


class BrokerServer:
    """One broker: :meth:`start`, serve, :meth:`stop`."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.address: HostPort | None = None
        self.node: BrokerNode | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._broker_service: BrokerService | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        config = self.config
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", config.max_request_bytes),
                ("grpc.max_send_message_length", config.max_request_bytes + _SEND_SLACK_BYTES),
                # gRPC sets SO_REUSEPORT by default: two brokers could then share a port.
                ("grpc.so_reuseport", 0),
            ]
        )
        _check_bindable(config.listen)
        try:
            port = server.add_insecure_port(str(config.listen))
        except RuntimeError:  # lost a race with another process since the check
            raise _cannot_listen(config.listen, "in use") from None
        self.address = HostPort(config.listen.host, port)
        advertised = config.advertised_listen or self.address
        self.node = await BrokerNode.open(config, advertised=advertised)
        core = self.node.core
        self._broker_service = BrokerService(core, config.produce_max_in_flight)
        server.add_generic_rpc_handlers(
            (
                self._broker_service.handler(),
                AdminService(core).handler(),
                GroupCoordinatorService(self.node.groups).handler(),
            )
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self._server = server
        await server.start()
        for name in ("", *_SERVICES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain and stop; see the module doc. Idempotent."""
        grace = self.config.shutdown_grace_ms / 1000.0 if grace_s is None else grace_s
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        try:
            if self._server is not None:
                await self._health.enter_graceful_shutdown()
                assert self.node is not None and self._broker_service is not None
                self.node.core.begin_drain()
                self._broker_service.drain()
                self.node.groups.close()
                await self._server.stop(grace)
            if self.node is not None:
                await self.node.close()
        finally:
            self._stopped.set()

    async def hurry(self) -> None:
        """During :meth:`stop`: cancel the calls still in flight now, not at the grace's end."""
        if self._server is not None:
            await self._server.stop(0)


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
