"""Who calls the registry, and what they may do: the listener's authentication and the
subject ACLs, both decided by the seam's security half and gate (the same users, keys,
ACLs and quotas as every other door; docs/security.md).

Authentication (a middleware, before any route): ``Authorization: Basic`` is checked
against the user's SCRAM keys; else, on a TLS listener, a verified client certificate names
the principal (``ssl.principal.mapping.rules``); else, when the broker requires
authentication, 401 ``{"error_code": 40101}`` after the KIP-306 delay. A write another
broker forwards (``forward``) carries its client's principal in ``X-Logd-Principal``,
believed only from a peer whose certificate names a broker of this cluster (mTLS); without
TLS the forwarder passes the client's own ``Authorization`` on and it is checked again. A
caller muted by a quota waits ``throttle_ms`` before its request runs.

Authorization (a second middleware, after routing): each route needs one action of
``logd.broker.security.actions`` on its subject (Confluent's schema-registry operations):
reading a subject's versions, a lookup or a compatibility test ``registry_read``;
registering ``registry_write``; deleting ``registry_delete``; a subject's config or mode
``registry_read_config`` / ``registry_write_config``; the global config and mode are the
subject ``*``'s (an ACL on every subject). Listings (``/subjects``, ``/schemas``) leave
out the subjects the caller may not describe; a schema by id needs ``registry_read`` on
some subject that uses it (:func:`readable`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Final

from aiohttp import web

from logd.broker.seam import ANONYMOUS, BROKER, BrokerSeam, Caller
from logd.errors import SubjectAuthorizationFailedError
from logd.frontends.common.http_auth import certificate_principal, password_principal, peer_pem
from logd.frontends.registry.http import Handler
from logd.security.cert_names import broker_node_id

__all__ = [
    "CALLER",
    "GLOBAL",
    "LISTENER",
    "PRINCIPAL_HEADER",
    "SEAM",
    "RegistryAuth",
    "allowed",
    "caller_of",
    "readable",
]

LISTENER: Final = "registry"
PRINCIPAL_HEADER: Final = "X-Logd-Principal"
#: The subject whose rights the global config and mode need.
GLOBAL: Final = "*"
CALLER: web.RequestKey[Caller] = web.RequestKey("registry_caller", Caller)
SEAM: web.AppKey[BrokerSeam] = web.AppKey("registry_seam", BrokerSeam)

#: (method, route pattern) -> the action its subject needs; routes not here need only an
#: authenticated caller (and filter what they list).
_NEEDS: Final = {
    **{("GET", p): "registry_read" for p in (
        "/subjects/{subject}/versions", "/subjects/{subject}/versions/{version}",
        "/subjects/{subject}/versions/{version}/schema",
        "/subjects/{subject}/versions/{version}/referencedby")},
    ("POST", "/subjects/{subject}"): "registry_read",
    ("POST", "/compatibility/subjects/{subject}/versions"): "registry_read",
    ("POST", "/compatibility/subjects/{subject}/versions/{version}"): "registry_read",
    ("POST", "/subjects/{subject}/versions"): "registry_write",
    ("DELETE", "/subjects/{subject}"): "registry_delete",
    ("DELETE", "/subjects/{subject}/versions/{version}"): "registry_delete",
    **{("GET", p): "registry_read_config" for p in ("/config/{subject}", "/mode/{subject}")},
    **{(m, p): "registry_write_config" for m in ("PUT", "DELETE")
       for p in ("/config", "/config/{subject}", "/mode", "/mode/{subject}")},
}  # fmt: skip


def caller_of(request: web.Request) -> Caller:
    caller = request.get(CALLER)
    return caller if isinstance(caller, Caller) else ANONYMOUS


def allowed(request: web.Request, action: str, subjects: Collection[str]) -> list[str]:
    """The ``subjects`` the caller may use for ``action`` (a listing's filter)."""
    return request.app[SEAM].visible(caller_of(request), action, subjects)


def readable(request: web.Request, subjects: Collection[str]) -> None:
    """A schema used by ``subjects`` may be read by whoever may read one of them (by anyone
    authenticated when none uses it any more)."""
    if subjects and not allowed(request, "registry_read", subjects):
        raise SubjectAuthorizationFailedError(
            f"{caller_of(request).principal} may not READ any subject of this schema"
        )


class RegistryAuth:
    """The two middlewares, over the broker's ``seam``."""

    def __init__(self, seam: BrokerSeam, *, tls: bool) -> None:
        self.seam = seam
        self.tls = tls

    @web.middleware
    async def authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        security = self.seam.security
        address = _address(request)
        if not self.tls and not security.authentication_required:
            caller = Caller(listener=LISTENER, address=address)  # no cost per request
        else:
            caller = Caller(
                principal=await self._principal(request, address),
                listener=LISTENER,
                address=address,
            )
        request[CALLER] = caller
        wait_ms = security.throttle_ms(caller)
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000.0)
        return await handler(request)

    async def _principal(self, request: web.Request, address: str) -> str:
        pem = peer_pem(request)
        forwarded = request.headers.get(PRINCIPAL_HEADER)
        if forwarded is not None and pem is not None and await self._is_broker(pem):
            return forwarded
        token = request.headers.get("Authorization")
        if token is not None:
            return await password_principal(token, self.seam, LISTENER, address)
        if self.seam.security.authentication_required:
            return await certificate_principal(request, self.seam, LISTENER, address)
        return ANONYMOUS.principal

    async def _is_broker(self, pem: bytes) -> bool:
        node = broker_node_id(pem)
        if node is None:
            return False
        meta = await self.seam.metadata(caller=BROKER)
        return any(b.node_id == node for b in meta.brokers)

    @web.middleware
    async def authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        pattern = route.canonical if route is not None else ""
        action = _NEEDS.get((request.method, pattern))
        if action is None:  # listings and the route-less: counted, filtered by the handler
            self.seam.admit(caller_of(request), "registry_list")
        else:
            subject = request.match_info.get("subject", GLOBAL)
            self.seam.admit(caller_of(request), action, (subject,))
        return await handler(request)


def _address(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return ""
