"""The brokers' Raft TCP listener (``--rpc-listen``, default ``127.0.0.1:33145``; Redpanda's
``rpc_server``): where peers' links (``rpc_link``) deliver Raft frames without gRPC.

A connection opens with the caller's ``RaftHello`` (``rpc_wire``). Admitted: a broker of this
cluster -- without TLS, the hello names the cluster's id and a broker's node id (as the
internal gRPC service's ``logd-cluster-id``/``logd-node-id`` handshake); with TLS (asyncio
ssl with the broker's certificate, key and CA, a client certificate *required*), the
certificate must also name that broker (``CN=broker-<id>``, ``cert_names.broker_node_id``:
the internal gRPC service's rule). Anything else is closed at once, logged at INFO and counted
in :attr:`RaftListener.refused`. An admitted caller gets this broker's hello back; from then
on every frame is a ``RaftFrame`` whose ``src`` must be the caller's, handed to the
:class:`~logd.cluster.internal.ClusterHandler` exactly as the gRPC ``Raft`` stream does (its
first frame tells the handler a peer (re)connected; the connection's end, that its stream
ended; fault injection's ``blocked_from`` applies there). A frame the handler rejects, a
length past ``max_frame_bytes``, or bytes that are no frame end the connection (the peer
reconnects).

Bounds: at most ``max_connections`` connections (past it, new ones are closed at once); a
hello must arrive within ``hello_timeout_s`` (slowloris) and within ``MAX_HELLO_BYTES``; a
connection buffers at most one frame's bound plus a header (``FrameDecoder``). After the
hello a connection may idle for ever: quiet Raft groups send nothing.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Callable, Collection
from typing import Any, Final, cast

from logd.cluster.internal import ClusterHandler
from logd.cluster.rpc_wire import (
    MAX_FRAMES_PER_FEED,
    MAX_HELLO_BYTES,
    FrameDecoder,
    decode_hello,
    encode_hello,
    parse_raft_frame,
)
from logd.errors import InvalidConfigError, LogdError
from logd.metadata.types import HostPort
from logd.security.cert_names import broker_node_id

__all__ = ["RaftListener", "RaftListenerSettings"]

_log = logging.getLogger(__name__)

#: A caller has this long from its connect to its hello (and its TLS handshake).
HELLO_TIMEOUT_S: Final = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class RaftListenerSettings:
    address: HostPort
    node_id: int
    cluster_id: str
    #: The largest frame taken (the broker's ``max.message.bytes`` for peers).
    max_frame_bytes: int
    max_connections: int = 256
    hello_timeout_s: float = HELLO_TIMEOUT_S


class _Connection(asyncio.Protocol):
    """One caller: its hello, then its frames."""

    def __init__(self, listener: RaftListener) -> None:
        self._listener = listener
        self._decoder = FrameDecoder(MAX_HELLO_BYTES)
        self._transport: asyncio.Transport | None = None
        self.peer: int | None = None  # set once admitted
        self._first = True
        self._timer: asyncio.TimerHandle | None = None
        self._where = "?"
        self._closed = False  # ended by us: what else arrived is not read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport
        self._transport = transport
        self._where = str(transport.get_extra_info("peername") or "?")
        if not self._listener.admit_connection(self):
            transport.abort()
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._listener.settings.hello_timeout_s, self._no_hello)

    def _no_hello(self) -> None:
        self._refuse("no hello in time")

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
            while frames and not self._closed:
                for payload in frames:
                    if self._closed:
                        break
                    if self.peer is None:
                        self._hello(payload)
                    else:
                        self._frame(payload)
                more = len(frames) == MAX_FRAMES_PER_FEED
                frames = self._decoder.feed(b"") if more else []
        except LogdError as exc:
            if self.peer is None:
                self._refuse(exc.message)
            else:
                _log.info("raft connection from broker %s ended: %s", self.peer, exc.message)
                self.close()

    def _hello(self, payload: bytes) -> None:
        cluster_id, node = decode_hello(payload)
        why = self._listener.check_hello(cluster_id, node, self._transport)
        if why:
            self._refuse(why)
            return
        if self._timer is not None:
            self._timer.cancel()
        self.peer = node
        settings = self._listener.settings
        self._decoder.set_limit(settings.max_frame_bytes)
        assert self._transport is not None
        self._transport.write(encode_hello(settings.cluster_id, settings.node_id))

    def _frame(self, payload: bytes) -> None:
        frame = parse_raft_frame(payload)
        if frame.src != self.peer:
            raise _Mismatch(f"a frame from {frame.src} on broker {self.peer}'s connection")
        first, self._first = self._first, False
        self._listener.frames_received += 1
        self._listener.handler.raft_frame(frame, first=first)

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
        self._listener.forget(self, ended=not self._first)

    def _refuse(self, why: str) -> None:
        self._listener.refuse(self._where, why)
        self.close()

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()


class _Mismatch(LogdError):
    """A frame naming another sender than the connection's."""


class RaftListener:
    """The listener; :meth:`start`, :meth:`close`. See the module doc."""

    def __init__(
        self,
        settings: RaftListenerSettings,
        handler: ClusterHandler,
        brokers: Collection[int],
        *,
        tls: ssl.SSLContext | None = None,
        tls_refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self._brokers = set(brokers)
        self._tls = tls
        self._tls_refresh = tls_refresh
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        #: Connections closed before or at their hello (not a broker of the cluster, no
        #: hello in time, too many connections).
        self.refused = 0
        #: Frames handed to the handler (fault injection may drop them there).
        self.frames_received = 0
        #: The address bound (port 0 becomes the port the system chose).
        self.address: HostPort | None = None

    def allow(self, node: int) -> None:
        """Broker ``node`` joined the cluster (issue 23): it may connect."""
        self._brokers.add(node)

    async def start(self) -> HostPort:
        address = self.settings.address
        loop = asyncio.get_running_loop()
        try:
            extra: dict[str, Any] = {}
            if self._tls is not None:
                extra["ssl_handshake_timeout"] = self.settings.hello_timeout_s
            self._server = await loop.create_server(
                lambda: _Connection(self), address.host, address.port, ssl=self._tls,
                reuse_address=True, **extra,
            )  # fmt: skip
        except OSError as exc:
            raise InvalidConfigError(
                f"rpc.listen: cannot listen on {address} ({exc.strerror or exc});"
                " pick another with --rpc-listen HOST:PORT (or off)"
            ) from None
        port = self._server.sockets[0].getsockname()[1]
        self.address = HostPort(address.host, port)
        return self.address

    def admit_connection(self, connection: _Connection) -> bool:
        if len(self._connections) >= self.settings.max_connections:
            self.refuse("?", f"{len(self._connections)} connections open already")
            return False
        self._tls_refresh()
        self._connections.add(connection)
        return True

    def check_hello(self, cluster_id: str, node: int, transport: Any) -> str:
        """Why a hello is refused ("" when the caller is a broker of the cluster)."""
        if self._tls is not None:
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            named = broker_node_id(ssl.DER_cert_to_PEM_cert(der).encode()) if der else None
            if named is None or named not in self._brokers:
                return f"its certificate names no broker of this cluster ({named!r})"
            if named != node:
                return f"its certificate names broker {named}, its hello broker {node}"
            return ""
        if cluster_id != self.settings.cluster_id:
            return "its hello names another cluster"
        if node not in self._brokers or node == self.settings.node_id:
            return f"node {node} is not a peer broker of this cluster"
        return ""

    def refuse(self, where: str, why: str) -> None:
        self.refused += 1
        _log.info("refused a raft connection from %s: %s", where, why)

    def forget(self, connection: _Connection, *, ended: bool) -> None:
        self._connections.discard(connection)
        if ended and connection.peer is not None:
            self.handler.raft_stream_ended(connection.peer)

    async def close(self) -> None:
        """Stop accepting and end every connection (the peers see us gone)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
