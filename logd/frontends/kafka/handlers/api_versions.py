"""ApiVersions (key 18): the version ranges this listener serves (KIP-35, KIP-511).

A v3+ request names the client's software; Kafka answers INVALID_REQUEST when a name or
version does not match ``[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?``, and so do we. A
request for a version above ours never reaches this handler: the connection answers it in a
v0 body with UNSUPPORTED_VERSION and the full list (:func:`unsupported_version_body`), so
the client can retry with our maximum.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from kio.schema.api_versions.v0.response import ApiVersionsResponse as ApiVersionsResponseV0

from logd.errors import ErrorCode
from logd.frontends.kafka.apis import Api, RequestContext
from logd.frontends.kafka.schema_codec import encode

__all__ = ["advertised", "handle", "unsupported_version_body"]

_SOFTWARE: Final = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


def advertised(apis: Mapping[int, Api]) -> list[dict[str, int]]:
    return [
        {"api_key": a.key, "min_version": a.min_version, "max_version": a.max_version}
        for a in apis.values()
    ]


def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    error = ErrorCode.NONE
    if ctx.version >= 3 and not (
        _SOFTWARE.fullmatch(request.client_software_name)
        and _SOFTWARE.fullmatch(request.client_software_version)
    ):
        error = ErrorCode.INVALID_REQUEST
    return {
        "error_code": error,
        "api_keys": advertised(ctx.server.apis),
        "throttle_time": 0,
    }


def unsupported_version_body(apis: Mapping[int, Api]) -> bytes:
    """KIP-511: the answer to an ApiVersions request above our maximum, in a v0 body."""
    return bytes(
        encode(
            ApiVersionsResponseV0,
            {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": advertised(apis)},
        )
    )
