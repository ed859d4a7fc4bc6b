"""The HTTP front end: Confluent's REST Proxy (v2, v3 produce) and STOMP over WebSocket on
the HTTP listener (docs/http.md). ``server.HttpFrontEnd`` is what the node starts; its factory
(``logd.node.frontends.http_front_end``) builds it from ``settings.parse_settings`` of the
broker's ``http.*`` keys; ``mounts.HttpMounts`` is how other front ends add a route.

This package re-exports nothing: the node builds its ``HttpMounts`` whether or not the HTTP
listener is on, and importing the mounts must not load the server, aiohttp and the schema
codecs (a large part of a broker's import time) for a listener that is ``off``."""

__all__: list[str] = []
