"""SaslHandshake (key 17, v0-1): the client names its mechanism; the answer lists the enabled
ones. v1 means the tokens follow in SaslAuthenticate requests (KIP-152); v0's raw tokens are
not served (every client this listener serves sends v1)."""

from __future__ import annotations

from typing import Any

from logd.errors import ErrorCode, LogdError
from logd.frontends.kafka.apis import RequestContext

__all__ = ["handle"]


def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    security = ctx.server.broker.security
    enabled = list(security.sasl_mechanisms)
    auth = ctx.auth
    if auth is None or not security.sasl_enabled:
        return {"error_code": int(ErrorCode.ILLEGAL_SASL_STATE), "mechanisms": enabled}
    if ctx.version < 1 or auth.mechanism is not None:
        auth.failed()
        return {"error_code": int(ErrorCode.ILLEGAL_SASL_STATE), "mechanisms": enabled}
    mechanism = request.mechanism
    if mechanism not in enabled:
        return {"error_code": int(ErrorCode.UNSUPPORTED_SASL_MECHANISM), "mechanisms": enabled}
    try:
        scram = security.scram_server(mechanism) if mechanism.startswith("SCRAM-") else None
    except LogdError as exc:
        return {"error_code": int(exc.code), "mechanisms": enabled}
    auth.chose(mechanism, scram)
    return {"error_code": 0, "mechanisms": enabled}
