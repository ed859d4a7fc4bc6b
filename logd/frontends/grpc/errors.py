"""The one place where logd's errors become gRPC's (docs/internals.md "Errors").

* A failure of one item (a partition, a topic) travels in the response's ``Error`` field:
  :func:`error_proto`.
* A request that fails as a whole ends the call with a gRPC status: the code from
  :data:`STATUS_FOR`, the one-line message as details, and the logd error code in the
  trailing metadata ``logd-error-code`` so the client rebuilds the same exception with
  ``error_for_code`` (:func:`abort`).
* Anything else that escapes a handler is a bug: it is logged with its traceback and answered
  as UNKNOWN_SERVER_ERROR (status INTERNAL), never as a crash of the broker
  (:func:`translate`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final, NoReturn

import grpc

from logd.errors import ErrorCode, LogdError, UnknownServerError
from logd.v1 import common_pb2

__all__ = ["ERROR_CODE_KEY", "STATUS_FOR", "abort", "error_proto", "status_for", "translate"]

_log = logging.getLogger(__name__)

ERROR_CODE_KEY: Final = "logd-error-code"

_S = grpc.StatusCode
#: The gRPC status of a request that fails as a whole; codes not listed map to
#: UNAVAILABLE when retriable, else INVALID_ARGUMENT.
STATUS_FOR: Final[dict[ErrorCode, grpc.StatusCode]] = {
    ErrorCode.UNKNOWN_SERVER_ERROR: _S.INTERNAL,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: _S.NOT_FOUND,
    ErrorCode.GROUP_ID_NOT_FOUND: _S.NOT_FOUND,
    ErrorCode.TOPIC_ALREADY_EXISTS: _S.ALREADY_EXISTS,
    ErrorCode.REQUEST_TIMED_OUT: _S.DEADLINE_EXCEEDED,
    ErrorCode.MESSAGE_TOO_LARGE: _S.RESOURCE_EXHAUSTED,
    ErrorCode.RECORD_LIST_TOO_LARGE: _S.RESOURCE_EXHAUSTED,
    ErrorCode.OFFSET_OUT_OF_RANGE: _S.OUT_OF_RANGE,
    ErrorCode.UNSUPPORTED_VERSION: _S.UNIMPLEMENTED,
    ErrorCode.UNSUPPORTED_COMPRESSION_TYPE: _S.UNIMPLEMENTED,
    ErrorCode.POLICY_VIOLATION: _S.FAILED_PRECONDITION,
    ErrorCode.NON_EMPTY_GROUP: _S.FAILED_PRECONDITION,
    ErrorCode.KAFKA_STORAGE_ERROR: _S.UNAVAILABLE,
    ErrorCode.SASL_AUTHENTICATION_FAILED: _S.UNAUTHENTICATED,
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: _S.PERMISSION_DENIED,
    ErrorCode.GROUP_AUTHORIZATION_FAILED: _S.PERMISSION_DENIED,
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: _S.PERMISSION_DENIED,
    ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: _S.PERMISSION_DENIED,
    ErrorCode.SUBJECT_AUTHORIZATION_FAILED: _S.PERMISSION_DENIED,
    ErrorCode.SECURITY_DISABLED: _S.FAILED_PRECONDITION,
}


def status_for(error: LogdError) -> grpc.StatusCode:
    status = STATUS_FOR.get(error.code)
    if status is not None:
        return status
    return _S.UNAVAILABLE if error.retriable else _S.INVALID_ARGUMENT


def error_proto(error: LogdError | None) -> common_pb2.Error | None:
    """The ``Error`` field of a response item; None (the field unset: code NONE) on success."""
    if error is None:
        return None
    return common_pb2.Error(code=int(error.code), message=error.message)  # type: ignore[arg-type]


async def abort(context: grpc.aio.ServicerContext, error: LogdError) -> NoReturn:
    """End the call with ``error`` (raises, as ``context.abort`` does)."""
    await context.abort(
        status_for(error),
        error.message,
        trailing_metadata=((ERROR_CODE_KEY, str(int(error.code))),),
    )
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


@contextlib.asynccontextmanager
async def translate(context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
    """Wrap a handler's body: a LogdError or an unexpected exception becomes a status."""
    try:
        yield
    except LogdError as exc:
        await abort(context, exc)
    except grpc.aio.AbortError:
        raise  # the handler ended the call itself
    except Exception:
        _log.exception("%s failed unexpectedly", method)
        await abort(context, UnknownServerError(f"{method} failed inside the broker"))
