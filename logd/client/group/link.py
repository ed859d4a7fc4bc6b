"""The way to a group's coordinator: FindCoordinator, the calls, and what to retry.

:class:`CoordinatorLink` asks any broker which one coordinates the group (the leader of the
group's ``__consumer_offsets`` partition), keeps that address, and sends the group calls
there. A call that fails in transport, or is answered NOT_COORDINATOR or
COORDINATOR_NOT_AVAILABLE, forgets the address: the next call asks FindCoordinator again,
which is how a client follows the coordinator when leadership moves (Kafka's
``markCoordinatorUnknown``). :meth:`CoordinatorLink.call_retrying` does that for one-shot
requests (commits, offset fetches, admin calls) until ``request_timeout_ms`` has passed;
the membership protocol handles its own errors.

Owned by the client's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from logd.client.config import ClientConfig
from logd.client.group import codec
from logd.client.group.steps import COORDINATOR_MOVED, RETRY_ON
from logd.client.transport.connection import Connection, ConnectionPool
from logd.clock import Clock
from logd.errors import LogdError
from logd.v1 import group_pb2_grpc

__all__ = ["CoordinatorLink", "address_of", "group_stub"]

_stubs: weakref.WeakKeyDictionary[Connection, Any] = weakref.WeakKeyDictionary()


def group_stub(conn: Connection) -> Any:
    """The GroupCoordinator stub of a connection (made once per connection)."""
    stub = _stubs.get(conn)
    if stub is None:
        stub = _stubs[conn] = group_pb2_grpc.GroupCoordinatorStub(conn.channel)  # type: ignore[no-untyped-call]
    return stub


def address_of(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class CoordinatorLink:
    """Finds and talks to one group's coordinator. Loop-owned."""

    def __init__(
        self, pool: ConnectionPool, group_id: str, config: ClientConfig, clock: Clock
    ) -> None:
        self._pool = pool
        self.group_id = group_id
        self._config = config
        self._clock = clock
        self.address: str | None = None
        self.node_id = -1

    def mark_dead(self) -> None:
        """Forget the coordinator: the next call looks it up again."""
        self.address = None

    async def find(self) -> Connection:
        """The coordinator's connection, looked up when unknown (retrying while the broker
        answers that none is available yet, until ``request_timeout_ms``)."""
        if self.address is not None:
            return self._pool.get(self.address)
        deadline = self._clock.monotonic() + self._config.request_timeout_ms / 1000.0
        request = codec.find_coordinator_request(self.group_id)
        attempt = 0
        while True:
            resp: Any = await self._pool.call_any(
                lambda c: c.unary(group_stub(c).FindCoordinator, request)
            )
            found = codec.coordinator(resp)
            error = found.error
            if error is None:
                self.address = address_of(found.host, found.port)
                self.node_id = found.node_id
                return self._pool.get(self.address)
            if not error.retriable or self._clock.monotonic() >= deadline:
                raise error
            attempt += 1
            await asyncio.sleep(self._backoff_s(attempt))

    async def call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        """One call to the coordinator; a transport failure forgets it and raises."""
        conn = await self.find()
        timeout = self._config.request_timeout_ms / 1000.0 if timeout_s is None else timeout_s
        try:
            return await conn.unary_with_timeout(
                getattr(group_stub(conn), method), request, timeout
            )
        except COORDINATOR_MOVED:
            self.mark_dead()
            raise

    async def call_retrying(
        self, method: str, request: Any, error_in: Callable[[Any], LogdError | None]
    ) -> Any:
        """``call`` until the answer carries no coordinator error (``error_in`` finds the
        error of an answer), or until ``request_timeout_ms`` has passed."""
        deadline = self._clock.monotonic() + self._config.request_timeout_ms / 1000.0
        attempt = 0
        while True:
            try:
                resp = await self.call(method, request)
                error = error_in(resp)
            except RETRY_ON as exc:
                error = exc
            else:
                if error is None or not isinstance(error, RETRY_ON):
                    return resp
                if isinstance(error, COORDINATOR_MOVED):
                    self.mark_dead()
            if self._clock.monotonic() >= deadline:
                raise error
            attempt += 1
            await asyncio.sleep(self._backoff_s(attempt))

    def _backoff_s(self, attempt: int) -> float:
        cfg = self._config
        return min(cfg.retry_backoff_ms * attempt, cfg.retry_backoff_max_ms) / 1000.0
