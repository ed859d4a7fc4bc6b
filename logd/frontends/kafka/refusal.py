"""The answer to a request refused as a whole: Kafka's ``getErrorResponse``.

A handler serves what the seam allows and answers per item what it refuses (authorization
is per topic and per group, as Kafka's); what still escapes a handler as a ``LogdError`` is
a refusal of the whole request -- a cluster action the caller may not do, say. Kafka then
answers the API's top-level error code with every other field at its zero value; so does
this module, for every response that has a top-level ``error_code``. An API without one
cannot say "refused" (Kafka closes such a connection too): None, and the connection closes.

Pure: reads kio's response classes only.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Final

from logd.errors import LogdError

__all__ = ["refusal_answer"]

_ZERO: Final[dict[str, Any]] = {
    "string": "",
    "bytes": b"",
    "records": b"",
    "bool": False,
    "uuid": None,
    "timedelta_i32": 0,
    "timedelta_i64": 0,
}


def refusal_answer(response_cls: type[Any], error: LogdError) -> dict[str, Any] | None:
    """The whole-request error answer of ``response_cls``, or None when it has no
    top-level ``error_code``."""
    zeros = _zeros(response_cls)
    if zeros is None:
        return None
    return {**zeros, "error_code": int(error.code), "error_message": error.message or None}


_CACHE: dict[type[Any], dict[str, Any] | None] = {}


def _zeros(cls: type[Any]) -> dict[str, Any] | None:
    if cls not in _CACHE:  # a few dozen response classes at most
        _CACHE[cls] = _compute_zeros(cls)
    return _CACHE[cls]


def _compute_zeros(cls: type[Any]) -> dict[str, Any] | None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if "error_code" not in fields:
        return None
    hints = typing.get_type_hints(cls)
    zeros: dict[str, Any] = {}
    for name, f in fields.items():
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        if typing.get_origin(hints[name]) is tuple:
            zeros[name] = []
        else:
            zeros[name] = _ZERO.get(f.metadata.get("kafka_type", ""), -1)
    return zeros
