"""One outgoing Raft TCP connection to a peer's ``--rpc-listen`` listener (``rpc_listener``):
connect (TLS when the broker has it), say hello, check the answer, then write frames.

:func:`open_connection` returns a :class:`RaftConnection` once the peer answered our
``RaftHello`` with its own, naming this cluster and the broker we meant to reach (a cached
address that now belongs to another broker, or to something else, fails here); with TLS its
certificate must chain to our CA, match the address, and name that broker. The connection
has the gRPC ``Raft`` call's shape (``write(frame)``, ``cancel()``), so ``PeerLink`` drives
either the same way: a write raises once the peer closed or reset the connection (the link
then drops what it held and reconnects, as when a gRPC stream fails), and waits while the
kernel's and the transport's buffers are full (a stalled peer: the link's bounded queue
grows instead).

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Final, cast

from logd.cluster.frame_encode import HEADER_ROOM
from logd.cluster.rpc_wire import (
    HEADER_BYTES,
    MAX_HELLO_BYTES,
    FrameDecoder,
    decode_hello,
    encode_hello,
)
from logd.errors import LogdError
from logd.metadata.types import HostPort
from logd.security.cert_names import broker_node_id

__all__ = ["RaftConnection", "open_connection"]

#: Past this much unsent data a write waits for the kernel to take some (below LOW).
WRITE_BUFFER_HIGH: Final = 1 << 20
WRITE_BUFFER_LOW: Final = 256 * 1024

assert HEADER_ROOM == HEADER_BYTES  # the encoder leaves room for exactly our prefix


class _Caller(asyncio.Protocol):
    """The connection's protocol: the peer's hello, then only its end."""

    def __init__(self, cluster_id: str, dst: int) -> None:
        self._cluster_id = cluster_id
        self._dst = dst
        self._decoder = FrameDecoder(MAX_HELLO_BYTES)
        self.transport: asyncio.Transport | None = None
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: Exception | None = None
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_BUFFER_HIGH, WRITE_BUFFER_LOW)

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            self._fail(ConnectionError("the peer sent bytes after its hello"))
            return
        try:
            frames = self._decoder.feed(data)
            if frames:
                cluster_id, node = decode_hello(frames[0])
                if cluster_id != self._cluster_id or node != self._dst:
                    raise ConnectionError(
                        f"the listener is broker {node} of another cluster or another broker"
                        f" (expected broker {self._dst})"
                    )
                if len(frames) > 1 or self._decoder.buffered:
                    raise ConnectionError("the peer sent bytes after its hello")
                self.answered.set_result(None)
        except (LogdError, ConnectionError) as exc:
            self._fail(exc if isinstance(exc, ConnectionError) else ConnectionError(str(exc)))

    def _fail(self, exc: Exception) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = exc or ConnectionResetError("the peer closed the connection")
        if not self.answered.done():
            self.answered.set_exception(self.closed)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)  # the writer's next write raises

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    async def drain(self) -> None:
        if self._drained is not None:
            await asyncio.shield(self._drained)


class RaftConnection:
    """An open, greeted connection; ``write`` frames, ``cancel`` to end it."""

    def __init__(self, protocol: _Caller, address: HostPort) -> None:
        self._protocol = protocol
        transport = protocol.transport
        assert transport is not None
        self._transport = transport
        self.address = address

    async def write(self, frame: bytearray) -> None:
        """Send ``frame``: a ``RaftFrame``'s bytes after ``HEADER_ROOM`` free bytes
        (``frame_encode``), where its length prefix is written -- no copy of the frame."""
        protocol = self._protocol
        if protocol.closed is not None:
            raise ConnectionResetError(f"raft connection to {self.address}: {protocol.closed}")
        frame[:HEADER_ROOM] = (len(frame) - HEADER_ROOM).to_bytes(HEADER_ROOM, "big")
        self._transport.write(frame)
        await protocol.drain()

    def cancel(self) -> None:
        self._transport.abort()


async def open_connection(
    address: HostPort,
    *,
    src: int,
    dst: int,
    cluster_id: str,
    tls: ssl.SSLContext | None,
    timeout_s: float,
) -> RaftConnection:
    """Connect to broker ``dst``'s listener at ``address`` and greet it; raises OSError
    (ConnectionError, TimeoutError, ssl.SSLError) when that fails."""
    loop = asyncio.get_running_loop()
    protocol: _Caller | None = None

    def factory() -> _Caller:
        nonlocal protocol
        protocol = _Caller(cluster_id, dst)
        return protocol

    async def greet() -> RaftConnection:
        transport, _ = await loop.create_connection(
            factory, address.host, address.port, ssl=tls,
            server_hostname=address.host if tls is not None else None,
        )  # fmt: skip
        assert protocol is not None
        if tls is not None:
            der = transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
            named = broker_node_id(ssl.DER_cert_to_PEM_cert(der).encode()) if der else None
            if named != dst:
                transport.abort()
                raise ConnectionError(f"the certificate at {address} names broker {named!r}")
        transport.write(encode_hello(cluster_id, src))
        await protocol.answered
        return RaftConnection(protocol, address)

    try:
        return await asyncio.wait_for(greet(), timeout_s)
    except BaseException:
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        raise
