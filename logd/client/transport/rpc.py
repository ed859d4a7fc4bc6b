"""The client's one boundary between gRPC and ``logd.errors`` (STYLE.md 11).

A broker reports a failed request in one of two ways (docs/internals.md "Errors"): an
``Error`` field inside the answer (per partition or per topic), or a gRPC status for the
whole request whose trailing metadata ``logd-error-code`` carries the wire code. Both are
turned into :class:`LogdError` here and nowhere else; transport failures become
:class:`NetworkError` (retriable: the request may or may not have applied) or
:class:`RequestTimedOutError`.

Pure functions: thread-safe.
"""

from __future__ import annotations

from typing import Any, Final

import grpc

from logd.errors import (
    LogdError,
    MessageTooLargeError,
    NetworkError,
    RequestTimedOutError,
    UnknownServerError,
    UnsupportedVersionError,
    error_for_code,
)

__all__ = ["ERROR_CODE_KEY", "error_from_proto", "error_from_rpc"]

ERROR_CODE_KEY: Final = "logd-error-code"


def error_from_proto(error: Any) -> LogdError | None:
    """The exception an answer's ``Error`` field carries, or None when its code is NONE."""
    code = error.code
    if not code:
        return None
    return error_for_code(code, error.message)


def error_from_rpc(exc: BaseException, address: str = "") -> LogdError:
    """The ``LogdError`` for a failed gRPC call to ``address``."""
    if isinstance(exc, LogdError):
        return exc
    if not isinstance(exc, grpc.RpcError):
        return NetworkError(f"{_at(address)}{type(exc).__name__}: {exc}")
    code = _call(exc, "code")
    details = _call(exc, "details") or ""
    for key, value in _call(exc, "trailing_metadata") or ():
        if key == ERROR_CODE_KEY:
            try:
                wire = int(value)
            except (TypeError, ValueError):
                break
            return error_for_code(wire, details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return RequestTimedOutError(f"{_at(address)}request timed out")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return NetworkError(f"{_at(address)}broker unavailable: {_connect_reason(details)}")
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        # Without logd's error code this status comes from the transport, not the broker
        # (its own failures always carry the code): e.g. a stream cut by a broker that died
        # ("Internal error from Core"). The request may or may not have applied: retriable.
        return NetworkError(f"{_at(address)}connection failed: {_first_line(details)}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return MessageTooLargeError(f"{_at(address)}{_first_line(details)}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return UnsupportedVersionError(f"{_at(address)}the broker does not implement this call")
    name = code.name if code is not None else "UNKNOWN"
    return UnknownServerError(f"{_at(address)}{name}: {_first_line(details)}")


def _call(exc: BaseException, method: str) -> Any:
    fn = getattr(exc, method, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:  # a status not yet known: treat as absent
        return None


def _at(address: str) -> str:
    return f"{address}: " if address else ""


def _connect_reason(details: str) -> str:
    """gRPC's "failed to connect to all addresses; last error: UNKNOWN: ipv4:h:p: Failed to
    connect to remote host: Connection refused" -> "connection refused"."""
    line = _first_line(details)
    marker = "Failed to connect to remote host: "
    if marker in line:
        return line.split(marker, 1)[1].strip().lower() or line
    return line


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no details"
