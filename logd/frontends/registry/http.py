"""HTTP plumbing shared by the registry's routes: content types, errors, parameters.

The one boundary where a RegistryError (or a bad request aiohttp itself refused) becomes
Confluent's ``{"error_code": …, "message": …}`` with its HTTP status
(:func:`error_middleware`); nothing else turns errors into responses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from logd.errors import LogdError, SaslAuthenticationFailedError, ThrottlingQuotaExceededError
from logd.registry.errors import (
    InvalidVersionError,
    RegistryError,
    UnprocessableEntityError,
)

__all__ = [
    "CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "Handler",
    "error_middleware",
    "flag",
    "int_param",
    "json_body",
    "page",
    "reply",
    "version_param",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a schema larger than this is not a schema
_MAX_VERSION = 2**31 - 1


def reply(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=CONTENT_TYPE,
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return reply({"error_code": code, "message": message}, status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as exc:
        return _error(exc.http_status, exc.error_code, exc.message)
    except LogdError as exc:  # from the seam: authentication, ACLs, quotas, the broker
        return _broker_error(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, 413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
    except web.HTTPMethodNotAllowed as exc:
        return _error(405, 405, f"HTTP {exc.method} is not supported here")
    except web.HTTPNotFound:
        return _error(404, 404, "HTTP 404 Not Found")
    except web.HTTPException as exc:
        return _error(exc.status, exc.status, exc.reason)


def _broker_error(exc: LogdError) -> web.Response:
    """Confluent's answers for what the broker refused (its schema registry's 40101,
    40301, 42901; anything else is the backend store's 50001)."""
    if isinstance(exc, SaslAuthenticationFailedError):
        response = _error(401, 40101, str(exc))
        response.headers["WWW-Authenticate"] = 'Basic realm="logd schema registry"'
        return response
    if exc.code.name.endswith("AUTHORIZATION_FAILED"):
        return _error(403, 40301, str(exc))
    if isinstance(exc, ThrottlingQuotaExceededError):
        return _error(429, 42901, str(exc))
    log.warning("registry: the broker failed a request: %s", exc)
    return _error(500, 50001, f"Error in the backend data store: {exc}")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or 422 with one line."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError) as exc:
        raise UnprocessableEntityError(f"Unrecognized request body: not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise UnprocessableEntityError("Unrecognized request body: expected a JSON object")
    return body


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter (``true``/``True``/``1``); absent is False."""
    return request.query.get(name, "false").strip().lower() in {"true", "1", "yes"}


def int_param(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise UnprocessableEntityError(f"Query parameter {name} must be an integer") from exc


def version_param(text: str) -> int:
    """A version in a path: a positive integer, ``latest`` or -1 (both mean latest)."""
    if text == "latest":
        return -1
    try:
        version = int(text)
    except ValueError:
        version = 0
    if version == -1 or 1 <= version <= _MAX_VERSION:
        return version
    raise InvalidVersionError(
        f"The specified version '{text}' is not a valid version id. Allowed values are "
        f'between [1, 2^31-1] and the string "latest"'
    )


def page(items: list[Any], request: web.Request) -> list[Any]:
    """Confluent's ``offset``/``limit`` paging (a negative limit: no limit)."""
    offset = max(0, int_param(request, "offset", 0))
    limit = int_param(request, "limit", -1)
    return items[offset:] if limit < 0 else items[offset : offset + limit]
