"""A slow connection setup is not a dead broker: the client waits for one connection attempt
as long as ``socket.connection.setup.timeout.ms`` says (librdkafka's setting, 30 s), not the
~100 ms gRPC allowed when its minimum connect timeout was left at the reconnect backoff —
which failed first calls on a loaded machine and would fail TLS over any real network.

A proxy in front of a real broker holds each new connection for a while before it forwards
anything, as a far or busy broker does."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest

from logd.client import Admin
from logd.errors import BrokerUnavailableError
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

#: How long the proxy holds a new connection before it forwards a byte.
HOLD_S = 0.6


class SlowSetupProxy:
    """Accepts, waits ``hold_s``, then pipes bytes both ways to ``upstream``. Runs its own
    loop in a daemon thread."""

    def __init__(self, upstream: str, hold_s: float) -> None:
        self._host, port = upstream.rsplit(":", 1)
        self._port = int(port)
        self._hold_s = hold_s
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.address = ""
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowSetupProxy:
        self._thread.start()
        assert self._ready.wait(10), "the proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(self._loop):  # connections still open: end them quietly
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self._hold_s)
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


@pytest.fixture
def slow(shared_broker: BrokerProcess) -> Iterator[SlowSetupProxy]:
    with SlowSetupProxy(shared_broker.address, HOLD_S) as proxy:
        yield proxy


def test_a_slow_connection_setup_still_connects(slow: SlowSetupProxy) -> None:
    with Admin(brokers=slow.address) as admin:
        assert admin.describe_cluster().brokers


def test_the_setup_timeout_is_the_users_to_set(slow: SlowSetupProxy) -> None:
    """Shorter than the proxy's hold: the attempt fails, and says no broker answered."""
    with (
        pytest.raises(BrokerUnavailableError, match="no broker answered"),
        Admin(brokers=slow.address, socket_connection_setup_timeout_ms=150) as admin,
    ):
        admin.describe_cluster()
