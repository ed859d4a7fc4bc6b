"""Who is calling the HTTP listener: the :class:`Caller` of a request, through the seam's
security half (the same authenticator, failure delay and counters as every door).

``Authorization: Basic base64(user:password)`` is checked against the user's stored SCRAM
keys; else, with TLS, a verified client certificate names the principal
(``ssl.principal.mapping.rules``); else, when the broker requires authentication, the request
is refused 401 (error code 40101, ``WWW-Authenticate: Basic``). A caller muted by a quota is
held before its request runs, as the gRPC listener holds a call. STOMP's CONNECT brings
``login``/``passcode`` instead (:func:`password_caller`).

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from logd.broker.seam import ANONYMOUS, BrokerSeam, Caller
from logd.errors import SaslAuthenticationFailedError
from logd.frontends.common.http_auth import certificate_principal, password_principal

__all__ = ["CALLER", "LISTENER", "caller_of", "password_caller"]

LISTENER: Final = "http"
#: Where the middleware leaves a request's caller.
CALLER: Final = web.RequestKey("logd_caller", Caller)


def _client_id(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")[:128]


async def caller_of(request: web.Request, seam: BrokerSeam) -> Caller:
    """The request's caller (see the module docstring); raises the typed authentication
    error (the error middleware answers 401)."""
    address = request.remote or ""
    header = request.headers.get("Authorization")
    principal: str | None = None
    if header is not None:
        principal = await password_principal(header, seam, LISTENER, address)
    elif seam.security.authentication_required:
        principal = await certificate_principal(request, seam, LISTENER, address)
    caller = Caller(
        principal=principal or ANONYMOUS.principal,
        client_id=_client_id(request),
        listener=LISTENER,
        address=address,
    )
    await _hold(seam, caller)
    return caller


async def password_caller(
    seam: BrokerSeam, login: str | None, passcode: str | None, address: str, client_id: str
) -> Caller:
    """The caller of a STOMP CONNECT's ``login``/``passcode`` (none: anonymous, refused when
    authentication is required)."""
    security = seam.security
    principal: str | None = None
    if login is not None:
        principal = await security.authenticate_password(login, passcode or "", LISTENER, address)
    elif security.authentication_required:
        await security.failed(LISTENER, "no credentials", address)
        raise SaslAuthenticationFailedError("authentication required: give login and passcode")
    caller = Caller(principal or ANONYMOUS.principal, client_id, LISTENER, address)
    await _hold(seam, caller)
    return caller


async def _hold(seam: BrokerSeam, caller: Caller) -> None:
    wait_ms = seam.security.throttle_ms(caller)
    if wait_ms > 0:
        await asyncio.sleep(wait_ms / 1000.0)
