"""STOMP 1.2 over WebSocket at ``/stomp`` on the HTTP listener (docs/http.md, "STOMP")."""

from logd.frontends.http.stomp.route import add_stomp_routes

__all__ = ["add_stomp_routes"]
