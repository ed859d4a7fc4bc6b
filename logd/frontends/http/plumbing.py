"""HTTP plumbing shared by the routes: JSON answers, bodies read with a deadline, query and
path parameters, CORS, and the one error boundary (:func:`error_middleware`) where a
:class:`RestError`, a core ``LogdError`` or aiohttp's own refusal (404, 405, 413 …) becomes
Confluent's ``{"error_code": …, "message": …}`` with its status.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from logd.errors import LogdError
from logd.frontends.http.errors import RestError, from_logd
from logd.frontends.http.media import V2, response_type
from logd.frontends.http.settings import HttpSettings

__all__ = [
    "Handler",
    "JsonText",
    "cors_headers",
    "cors_preflight",
    "decompressor",
    "error_middleware",
    "error_response",
    "inflate",
    "int_param",
    "json_answer",
    "path_int",
    "read_body",
    "read_json",
    "reply",
]

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_INT32_MAX: Final = 2**31 - 1


class JsonText(str):
    """A body already written as JSON text (a hot path writes its answer directly)."""

    __slots__ = ()


def json_answer(body: object, content_type: str, status: int = 200) -> web.Response:
    text = body if isinstance(body, JsonText) else json.dumps(body, separators=(",", ":"))
    return web.Response(
        body=text.encode(),
        status=status,
        content_type=content_type,
    )


def reply(request: web.Request, body: object, status: int = 200) -> web.Response:
    """A JSON answer of the v2 API, in the content type the client accepts."""
    return json_answer(body, response_type(request.headers.get("Accept", "")), status)


def error_response(exc: RestError) -> web.Response:
    response = web.Response(
        body=json.dumps(exc.body(), separators=(",", ":")).encode(),
        status=exc.status,
        content_type=V2,
    )
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="logd"'
    if exc.close:
        response.force_close()
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RestError as exc:
        return error_response(exc)
    except LogdError as exc:
        return error_response(from_logd(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        too_large = RestError(413, 413, f"Request Entity Too Large: {exc.text}", close=True)
        return error_response(too_large)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(
            RestError(exc.status, exc.status, f"HTTP {exc.status} {exc.reason}")
        )
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        # A bug: logged here with its traceback, answered with one line.
        _log.exception("http: %s %s failed", request.method, request.path)
        return error_response(RestError(500, 500, "Internal Server Error (logged by the broker)"))


async def read_body(request: web.Request, timeout_ms: int) -> bytes:
    """The whole body, inflated (:func:`inflate`), within the request timeout (408 after
    it); at most ``client_max_size`` bytes as sent and as inflated (413 beyond)."""
    try:
        async with asyncio.timeout(timeout_ms / 1000.0):
            raw = await request.read()
    except TimeoutError:
        raise RestError(
            408, 408, f"Request Timeout: the body did not arrive within {timeout_ms} ms", close=True
        ) from None
    limit = request.client_max_size
    return inflate(raw, request.headers.get("Content-Encoding", ""), limit)


def decompressor(encoding: str) -> zlib._Decompress | None:
    """A decompressor of a ``Content-Encoding`` (None: identity); 415 for one not served.

    The listener inflates bodies itself rather than letting aiohttp do it, so that a bad or
    unknown encoding is answered in Confluent's error format and an inflated body is bounded
    exactly (a compressed bomb stops at the limit, never allocated whole)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise RestError(415, 415, f"Content-Encoding {encoding!r} is not served (use gzip or deflate)")


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    inflater = decompressor(encoding)
    if inflater is None:
        return raw
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise RestError(
            400, 400, f"Bad Request: the {encoding} body does not inflate ({exc})"
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RestError(413, 413, f"Request Entity Too Large: more than {limit} bytes inflated")
    if not inflater.eof:
        raise RestError(400, 400, f"Bad Request: the {encoding} body is cut short")
    return out


async def read_json(request: web.Request, timeout_ms: int) -> Any:
    """The body as JSON (400 when it is not); None for an empty body."""
    raw = await read_body(request, timeout_ms)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RestError(400, 400, f"Malformed JSON: {str(exc)[:200]}") from None


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RestError(400, 400, f"Query parameter {name} must be an integer") from None
    return min(max(value, low), high)


def path_int(text: str, what: str) -> int:
    """A partition id in a path: 0..2**31-1, else 404 with the partition-not-found code."""
    if not text.isdigit() or int(text) > _INT32_MAX:
        raise RestError(404, 40402, f"{what} {text!r} is not a partition id")
    return int(text)


# -- CORS (Confluent's access.control.allow.* settings) ------------------------------------


def _allowed(settings: HttpSettings, origin: str) -> bool:
    return bool(origin) and ("*" in settings.allow_origins or origin in settings.allow_origins)


def cors_preflight(settings: HttpSettings, request: web.Request) -> web.Response | None:
    """The answer to a browser's preflight, or None when ``request`` is not one. An origin
    that is not allowed gets no CORS headers (the browser then refuses the call)."""
    origin = request.headers.get("Origin", "")
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    response = web.Response(status=204)
    if settings.allow_origins and _allowed(settings, origin):
        response.headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": settings.allow_methods,
                "Access-Control-Allow-Headers": settings.allow_headers,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            }
        )
    return response


def cors_headers(
    settings: HttpSettings, request: web.Request, response: web.StreamResponse
) -> None:
    """Adds the CORS headers of an allowed origin to an answer about to be sent."""
    origin = request.headers.get("Origin", "")
    if settings.allow_origins and _allowed(settings, origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
