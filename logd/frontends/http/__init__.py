"""The HTTP front end: Confluent's REST Proxy (v2, v3 produce) and STOMP over WebSocket on
the HTTP listener (docs/http.md). ``server.HttpFrontEnd`` is what the node starts."""

from logd.frontends.http.server import HttpFrontEnd

__all__ = ["HttpFrontEnd"]
