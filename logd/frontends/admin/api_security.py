"""The console's users and ACLs (read-only; ``logd security`` changes them):
``GET /api/security`` -- ``{"enabled", "users": [{name, mechanisms}], "acls": [...]}``,
through the seam's security half and its guard (describing users and ACLs needs the
cluster's DESCRIBE/ALTER rights, as in Kafka). A broker without security answers
``enabled: false``.

Ownership: the broker's event loop.
"""

from __future__ import annotations

from aiohttp import web

from logd.broker.seam import BrokerSeam
from logd.errors import SecurityDisabledError
from logd.frontends.admin.auth import CALLER
from logd.security.acl import AclBindingFilter

__all__ = ["add_security_routes"]


def add_security_routes(app: web.Application, seam: BrokerSeam) -> None:
    async def security(request: web.Request) -> web.Response:
        caller = request[CALLER]
        try:
            users = seam.security.describe_users(caller)
            acls = seam.security.describe_acls(caller, AclBindingFilter())
        except SecurityDisabledError:
            return web.json_response({"enabled": False, "users": [], "acls": []})
        return web.json_response({
            "enabled": True,
            "users": [
                {"name": u.name,
                 "mechanisms": [f"{m.mechanism_name} ({n} iterations)" for m, n in u.credentials]}
                for u in sorted(users, key=lambda u: u.name)
            ],
            "acls": [
                {"resource_type": a.pattern.resource_type.name.lower(),
                 "name": a.pattern.name, "pattern": a.pattern.pattern_type.name.lower(),
                 "principal": a.entry.principal, "host": a.entry.host,
                 "operation": a.entry.operation.name.lower(),
                 "permission": a.entry.permission.name.lower()}
                for a in acls
            ],
        })  # fmt: skip

    app.router.add_get("/api/security", security)
