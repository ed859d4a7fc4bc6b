"""SaslAuthenticate (key 36, v0-2): one SASL token each way (KIP-152). PLAIN is one round
(the password is checked against the user's stored SCRAM keys); SCRAM two. A failure is
answered SASL_AUTHENTICATION_FAILED after the KIP-306 delay (counted and logged by the
seam), and the connection is then closed."""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.sasl import SaslPhase
from logd.security.plain import parse_plain

__all__ = ["handle"]

_LISTENER = "kafka"


def _answer(error: LogdError | None, token: bytes = b"") -> dict[str, Any]:
    return {
        "error_code": int(error.code) if error is not None else 0,
        "error_message": error.message if error is not None else None,
        "auth_bytes": token,
        "session_lifetime": 0,
    }


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    auth = ctx.auth
    security = ctx.server.broker.security
    if auth is None or auth.phase is not SaslPhase.AUTHENTICATE:
        if auth is not None:
            auth.failed()
        return {**_answer(None), "error_code": int(ErrorCode.ILLEGAL_SASL_STATE),
                "error_message": "SaslAuthenticate before a SaslHandshake"}  # fmt: skip
    token = bytes(request.auth_bytes or b"")
    mechanism = auth.mechanism or "sasl"
    try:
        if auth.scram is None:  # PLAIN: one round
            try:
                creds = parse_plain(token)
            except LogdError:
                await security.failed(_LISTENER, mechanism, ctx.peer)
                raise
            principal = await security.authenticate_password(  # delays a failure itself
                creds.username, creds.password, _LISTENER, ctx.peer
            )
            auth.succeeded(principal)
            return _answer(None)
        try:
            answer = auth.scram.step(token)
        except LogdError:
            await security.failed(_LISTENER, mechanism, ctx.peer)
            raise
        if auth.scram.complete:
            auth.succeeded(security.scram_principal(auth.scram, _LISTENER))
        return _answer(None, answer)
    except LogdError as exc:
        auth.failed()
        return _answer(exc)
