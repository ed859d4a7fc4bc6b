"""The registry listener: an aiohttp server on the broker's event loop (DESIGN.md
``--registry-listen``, default 127.0.0.1:8081), one :class:`RegistryFrontEnd` per broker.

Start: bind, then start the store's tail (it creates `_schemas` when missing).  Drain:
stop accepting; stop: let requests in flight finish until the grace deadline, then close.
"""

from __future__ import annotations

import socket

from aiohttp import web

from logd.frontends.registry.http import MAX_BODY_BYTES, error_middleware
from logd.frontends.registry.read_routes import STORE, add_read_routes
from logd.frontends.registry.schema_log import SchemaLog, SchemaLogCore
from logd.frontends.registry.store import SchemaStore
from logd.frontends.registry.write_routes import add_write_routes

__all__ = ["RegistryFrontEnd", "build_app"]


def build_app(store: SchemaStore) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[STORE] = store
    add_read_routes(app)
    add_write_routes(app)
    return app


class RegistryFrontEnd:
    """The schema registry's HTTP listener on one broker."""

    def __init__(self, host: str, port: int, core: SchemaLogCore, node_id: int) -> None:
        self.host = host
        self.port = port
        self._core = core
        self._node_id = node_id
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self.store: SchemaStore | None = None

    async def start(self) -> tuple[str, int]:
        """Bind (port 0: any free port) and serve; the address bound."""
        sock = socket.create_server((self.host, self.port), reuse_port=False)
        host, port = sock.getsockname()[:2]
        self.store = SchemaStore(SchemaLog(self._core, self._node_id), f"http://{host}:{port}")
        self._runner = web.AppRunner(build_app(self.store), access_log=None)
        await self._runner.setup()
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()
        await self.store.start()
        return host, port

    def begin_drain(self) -> None:
        if self._site is not None and self._site._server is not None:
            self._site._server.close()

    async def stop(self, grace_s: float) -> None:
        if self.store is not None:
            await self.store.stop()
        if self._runner is not None:
            await self._runner.shutdown()
            await self._runner.cleanup()
