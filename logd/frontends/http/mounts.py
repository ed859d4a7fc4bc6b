"""Routes other front ends serve on the HTTP listener (MQTT over WebSocket at ``/mqtt``).

The HTTP listener is one port for everything a browser speaks; a front end that wants a path
on it does not import the HTTP front end (front ends import no other front end,
``tests/test_layering.py``): the node's composition root hands it the node's
:class:`HttpMounts` in its registration line (``logd.node.frontends``), e.g.::

    def _mqtt(address, config, node):
        server = MqttServer.from_config(...)
        node.http_mounts.mount("/mqtt", mqtt_route(server))
        return server

A mount is an aiohttp handler (``async (web.Request) -> web.StreamResponse``; it may
``prepare`` a ``web.WebSocketResponse``) for one exact path, any method. The listener looks
mounts up on every request before its own routes, so mounting before or after the listener
starts both work, and ``unmount`` takes a path away again. A mounted handler does its own
authentication (the listener's HTTP Basic check is not applied: MQTT has CONNECT for that);
CORS, the error body format, request tracking and the drain apply as to every route.

Ownership: the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["RESERVED", "Handler", "HttpMounts"]

Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]
#: Path prefixes the HTTP front end's own routes use.
RESERVED: Final = ("/topics", "/consumers", "/brokers", "/v3", "/stomp")


class HttpMounts:
    """path -> handler; see the module docstring."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def mount(self, path: str, handler: Handler) -> None:
        """Serve ``path`` (exact, starting with ``/``) with ``handler``. ValueError for a
        path of the listener's own, or one already mounted."""
        if not path.startswith("/") or path == "/":
            raise ValueError(f"a mount path starts with / and names something: {path!r}")
        if any(path == r or path.startswith(r + "/") for r in RESERVED):
            raise ValueError(f"{path} belongs to the HTTP listener's own routes")
        if path in self._handlers:
            raise ValueError(f"{path} is mounted already")
        self._handlers[path] = handler

    def unmount(self, path: str) -> None:
        self._handlers.pop(path, None)

    def handler(self, path: str) -> Handler | None:
        return self._handlers.get(path)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))
