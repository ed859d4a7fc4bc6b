"""Who is calling the admin listener, and how its failures look on the wire.

The caller: ``Authorization: Basic base64(user:password)`` checked against the user's stored
SCRAM keys through the seam's security half (the same authenticator, failure delay and
counters as every door); else, with TLS, a verified client certificate mapped to its
principal; else, when the broker requires authentication, 401 with ``WWW-Authenticate:
Basic`` (a browser then asks for a logd user's name and password). Without authentication
every caller is ``User:ANONYMOUS``.

Errors (:func:`error_response`): one JSON body ``{"error_code": KAFKA_CODE, "message":
...}`` with the HTTP status that suits the code (401 authentication, 403 authorization, 404
unknown topic or group, 400 a bad request, 409 a conflict, 503 retriable). Never a
traceback: anything that is not a LogdError is logged and answered 500.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from logd.broker.seam import ANONYMOUS, BrokerSeam, Caller
from logd.errors import ErrorCode, LogdError
from logd.frontends.common.http_auth import certificate_principal, password_principal

__all__ = ["CALLER", "LISTENER", "caller_of", "error_response", "status_of"]

LISTENER: Final = "admin"
#: Where the server's middleware leaves a request's caller.
CALLER: Final = web.RequestKey("logd_caller", Caller)

_STATUS: Final = {
    ErrorCode.SASL_AUTHENTICATION_FAILED: 401,
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: 403,
    ErrorCode.GROUP_AUTHORIZATION_FAILED: 403,
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: 403,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: 404,
    ErrorCode.GROUP_ID_NOT_FOUND: 404,
    ErrorCode.TOPIC_ALREADY_EXISTS: 409,
    ErrorCode.NON_EMPTY_GROUP: 409,
    ErrorCode.NOT_COORDINATOR: 421,  # another broker's console shows it
    ErrorCode.NOT_LEADER_OR_FOLLOWER: 421,
}


def status_of(error: LogdError) -> int:
    """The HTTP status of a typed error (see the module docstring)."""
    status = _STATUS.get(error.code)
    if status is not None:
        return status
    return 503 if error.retriable else 400


def error_response(error: LogdError) -> web.Response:
    status = status_of(error)
    body = json.dumps({"error_code": int(error.code), "message": str(error)})
    headers = {"WWW-Authenticate": 'Basic realm="logd"'} if status == 401 else None
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


async def caller_of(request: web.Request, seam: BrokerSeam) -> Caller:
    """The request's caller; raises SaslAuthenticationFailedError (answered 401)."""
    address = request.remote or ""
    header = request.headers.get("Authorization")
    principal: str | None = None
    if seam.security.authentication_required:
        if header is not None:
            principal = await password_principal(header, seam, LISTENER, address)
        else:
            principal = await certificate_principal(request, seam, LISTENER, address)
    return Caller(
        principal=principal or ANONYMOUS.principal,
        client_id=request.headers.get("User-Agent", "")[:128],
        listener=LISTENER,
        address=address,
    )
