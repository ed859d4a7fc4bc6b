"""Connections to brokers: one grpc.aio channel per address, created on first use.

A :class:`Connection` holds the channel, the two service stubs and (lazily) the produce
stream to that broker. :class:`ConnectionPool` hands them out by ``host:port`` and knows
the bootstrap list; :meth:`ConnectionPool.call_any` tries addresses in turn until one
answers and raises :class:`BrokerUnavailableError` naming every address it tried.

Owned by one event loop: grpc.aio channels are bound to the loop that created them, so
every method here must run on that loop. Not thread-safe.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import grpc

from logd.client.config import ClientConfig
from logd.client.transport.channel_security import call_metadata, secure_channel
from logd.client.transport.produce_stream import ProduceStream
from logd.client.transport.rpc import error_from_rpc
from logd.errors import BrokerUnavailableError, LogdError, NetworkError, RequestTimedOutError
from logd.v1 import admin_pb2_grpc, broker_pb2, broker_pb2_grpc

__all__ = ["PRODUCE_METHOD", "Connection", "ConnectionPool", "channel_options"]

#: The broker's Produce stream (broker.proto), as the generated stub names it.
PRODUCE_METHOD = "/logd.v1.LogBroker/Produce"

T = TypeVar("T")

#: Room for protobuf framing and the other fields around the largest payload.
_FRAMING_BYTES = 1 << 20


def channel_options(config: ClientConfig, max_message_bytes: int) -> list[tuple[str, Any]]:
    """gRPC channel options: bounded messages and a quick reconnect after a broker restart."""
    limit = max_message_bytes + _FRAMING_BYTES
    return [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        ("grpc.initial_reconnect_backoff_ms", config.reconnect_backoff_ms),
        # Not a backoff: gRPC's minimum connect timeout (one attempt's deadline).
        ("grpc.min_reconnect_backoff_ms", config.socket_connection_setup_timeout_ms),
        ("grpc.max_reconnect_backoff_ms", config.reconnect_backoff_max_ms),
        ("grpc.primary_user_agent", f"logd-python/{config.client_id}"),
        # Several clients in one process must not share one TCP connection: a producer's
        # 1 MiB batches would queue behind a consumer's long polls.
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.enable_retries", 0),
    ]


class Connection:
    """The channel and stubs of one broker address. Owned by the client's event loop."""

    def __init__(
        self, address: str, config: ClientConfig, max_message_bytes: int, max_in_flight: int
    ) -> None:
        self.address = address
        self._config = config
        self.channel = secure_channel(address, config, channel_options(config, max_message_bytes))
        #: Credentials (SASL_*) every call carries.
        self.metadata = call_metadata(config)
        self.broker = broker_pb2_grpc.LogBrokerStub(self.channel)  # type: ignore[no-untyped-call]
        #: The stub's Produce without its serializer: ProduceStream sends its requests
        #: already serialized (produce_request.py, one copy of the batch).
        self._produce_call = self.channel.stream_stream(
            PRODUCE_METHOD,
            request_serializer=None,
            response_deserializer=broker_pb2.ProduceResponse.FromString,
            _registered_method=True,  # as the generated stub registers it
        )
        self.admin = admin_pb2_grpc.LogAdminStub(self.channel)  # type: ignore[no-untyped-call]
        self._max_in_flight = max_in_flight
        self._produce: ProduceStream | None = None

    @property
    def produce_stream(self) -> ProduceStream:
        """The produce stream to this broker (opened on first use, reopened after a failure)."""
        if self._produce is None:
            self._produce = ProduceStream(
                self.address,
                functools.partial(self._produce_call, metadata=self.metadata),
                max_in_flight=self._max_in_flight,
                request_timeout_s=self._config.request_timeout_ms / 1000.0,
            )
        return self._produce

    async def unary(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        """Call a unary method with the request timeout; failures become ``LogdError``."""
        return await self.unary_with_timeout(
            method, request, self._config.request_timeout_ms / 1000.0
        )

    async def unary_with_timeout(
        self, method: Callable[..., Awaitable[T]], request: Any, timeout_s: float
    ) -> T:
        try:
            return await method(
                request, timeout=timeout_s, wait_for_ready=False, metadata=self.metadata
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None

    def open_stream(self, method: Callable[..., Any], request: Any) -> Any:
        """Start a server-streaming call (read it with :meth:`read_stream`)."""
        return method(request, wait_for_ready=False, metadata=self.metadata)

    async def read_stream(self, call: Any, timeout_s: float) -> Any:
        """The next message of a server-streaming ``call`` (None at its end),
        within ``timeout_s``; failures become ``LogdError`` (a timeout: RequestTimedOutError).
        ``asyncio.timeout``, not ``wait_for``: no extra task and loop turns per message."""
        try:
            async with asyncio.timeout(timeout_s):
                message = await call.read()
            return None if message is grpc.aio.EOF else message
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None
        except TimeoutError:
            call.cancel()
            raise RequestTimedOutError(
                f"{self.address}: no answer on the stream within {timeout_s:g}s"
            ) from None

    def close_produce_stream(self, error: LogdError) -> None:
        """Fail the produce stream's unanswered requests with ``error`` (if it was opened)."""
        if self._produce is not None:
            self._produce.close(error)
            self._produce = None

    async def close(self) -> None:
        self.close_produce_stream(NetworkError(f"{self.address}: client closed"))
        await self.channel.close(grace=None)


class ConnectionPool:
    """Connections by address, plus the bootstrap list. Owned by the client's event loop."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        max_message_bytes: int = 4 << 20,
        max_in_flight: int = 5,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._max_message_bytes = max_message_bytes
        self._max_in_flight = max_in_flight
        self._connections: dict[str, Connection] = {}
        self._rng = rng or random.Random()
        self.bootstrap: tuple[str, ...] = config.brokers
        self.closed = False

    def get(self, address: str) -> Connection:
        if self.closed:
            raise NetworkError("the client is closed")
        conn = self._connections.get(address)
        if conn is None:
            conn = Connection(address, self._config, self._max_message_bytes, self._max_in_flight)
            self._connections[address] = conn
        return conn

    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    async def call_any(
        self,
        call: Callable[[Connection], Awaitable[T]],
        addresses: Iterable[str] = (),
    ) -> T:
        """``call`` on the first broker that answers: ``addresses`` first, then bootstrap.

        Transport failures move on to the next address; a ``LogdError`` the broker itself
        reported is raised at once. When no broker answers: ``BrokerUnavailableError``.
        """
        preferred = list(dict.fromkeys(addresses))
        rest = [a for a in self.bootstrap if a not in preferred]
        self._rng.shuffle(rest)  # spread bootstrap load over the list, as Kafka clients do
        tried: list[str] = []
        last: LogdError | None = None
        for address in [*preferred, *rest]:
            tried.append(address)
            try:
                return await call(self.get(address))
            except (NetworkError, RequestTimedOutError, BrokerUnavailableError) as exc:
                last = exc
        detail = f" ({_reason(last)})" if last is not None else ""
        raise BrokerUnavailableError(f"no broker answered at {', '.join(tried)}{detail}")

    async def close(self) -> None:
        self.closed = True
        connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            await conn.close()


def _reason(err: LogdError) -> str:
    text = str(err)
    # "host:port: broker unavailable: failed to connect ..." -> the part after the address.
    return text.split(": ", 1)[1] if ": " in text else text
