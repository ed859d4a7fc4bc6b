"""The HTTP front end: Confluent's REST Proxy (v2, v3 produce) and STOMP over WebSocket on
the HTTP listener (docs/http.md). ``server.HttpFrontEnd`` is what the node starts; its factory
(``logd.node.frontends.http_front_end``) builds it from ``parse_http_settings`` of the
broker's ``http.*`` keys; :class:`HttpMounts` is how other front ends add a route."""

from logd.frontends.http.mounts import HttpMounts
from logd.frontends.http.server import HttpFrontEnd
from logd.frontends.http.settings import HttpSettings
from logd.frontends.http.settings import parse_settings as parse_http_settings

__all__ = ["HttpFrontEnd", "HttpMounts", "HttpSettings", "parse_http_settings"]
