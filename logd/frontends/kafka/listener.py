"""The Kafka wire-protocol listener: an asyncio TCP server of :class:`Connection`\\ s.

Start binds the port (one clear line if it is taken); stop follows STYLE.md 14: stop
accepting, let every connection write the answers it owes (waiting fetches return early
because the core is draining), cut whatever is left when the grace period ends.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping

from logd.broker.seam import BrokerSeam
from logd.errors import InvalidConfigError
from logd.frontends.kafka.apis import Api
from logd.frontends.kafka.connection import Connection
from logd.frontends.kafka.server_context import ServerContext
from logd.frontends.kafka.settings import KafkaSettings
from logd.metadata.types import HostPort
from logd.tls.contexts import ReloadingServerContext
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["KafkaListener"]

_log = logging.getLogger(__name__)


class KafkaListener:
    """Serves Kafka clients on ``listen``; Metadata names ``advertised`` (default: the
    bound address)."""

    def __init__(
        self,
        broker: BrokerSeam,
        listen: HostPort,
        *,
        advertised: HostPort | None = None,
        settings: KafkaSettings | None = None,
        apis: Mapping[int, Api] | None = None,
        tls: TlsSettings | None = None,
    ) -> None:
        if apis is None:
            from logd.frontends.kafka.table import API_TABLE

            apis = API_TABLE
        self.broker = broker
        self.listen = listen
        self.settings = settings or KafkaSettings()
        self._advertised = advertised
        self._apis = apis
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        broker.telemetry.connections["kafka"] = lambda: len(self._connections)
        #: TLS (issue 15): the context reloads its certificate files when they change.
        self._tls = (
            ReloadingServerContext(TlsFiles(tls)) if tls is not None and tls.enabled else None
        )
        self.address: HostPort | None = None

    @property
    def advertised(self) -> HostPort:
        assert self.address is not None, "not started"
        return self._advertised or self.address

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def start(self) -> HostPort:
        loop = asyncio.get_running_loop()
        listen = self.listen
        holder: list[ServerContext] = []
        try:
            server = await loop.create_server(
                lambda: self._accept(holder[0]),
                listen.host,
                listen.port,
                reuse_address=True,
                family=socket.AF_UNSPEC,
                ssl=self._tls.context if self._tls is not None else None,
            )
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            raise InvalidConfigError(
                f"kafka listener: cannot listen on {listen} ({why}); pick another with "
                "--kafka-listen HOST:PORT, or turn it off with --kafka-listen off"
            ) from None
        port = server.sockets[0].getsockname()[1]
        self.address = HostPort(listen.host, port)
        advertised = self.advertised
        holder.append(
            ServerContext(
                broker=self.broker,
                apis=self._apis,
                settings=self.settings,
                advertised_host=advertised.host,
                advertised_port=advertised.port,
            )
        )
        self._server = server
        _log.info("kafka: listening on %s (advertised %s)", self.address, advertised)
        return self.address

    def _accept(self, server: ServerContext) -> Connection:
        if self._tls is not None:
            self._tls.refresh()  # new certificate files take effect for new connections
        return Connection(server, self._connections)

    def begin_drain(self) -> None:
        """Accept no new connections; every open one reads no new request and closes once
        it has written the answers it owes."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.begin_close()

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain (waiting answers may finish for ``grace_s``), then cut what is left and
        close; idempotent."""
        server = self._server
        if server is None:
            return
        self.begin_drain()
        grace = self.settings.drain_grace_ms / 1000.0 if grace_s is None else grace_s
        waits = [conn.closed for conn in self._connections]
        if waits and grace > 0:
            _done, pending = await asyncio.wait(waits, timeout=grace)
            if pending:
                _log.warning("kafka: cutting %d connections at the end of the grace", len(pending))
        for conn in list(self._connections):
            conn.abort()
        self._server = None
        await server.wait_closed()
