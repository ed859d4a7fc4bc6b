"""The admin front end (issue 20): Prometheus metrics, health and readiness, and the web
console, on the ``--admin-listen`` listener (``server.AdminFrontEnd``)."""

from logd.frontends.admin.server import AdminFrontEnd

__all__ = ["AdminFrontEnd"]
