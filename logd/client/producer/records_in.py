"""What the producer accepts as a record's fields, and the one-line errors for the rest.

Values and keys are ``bytes`` (the fast path checks ``type(x) is bytes`` inline and calls
here only for anything else); ``str`` is encoded as UTF-8 and ``bytearray``/``memoryview``
copied, as confluent-kafka does; anything else is :class:`InvalidRecordError`. Headers are a
list of ``(str, bytes | str | None)`` pairs or a dict. Timestamps are unix milliseconds.

Pure functions: thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from logd.client.types import Header
from logd.errors import InvalidRecordError, InvalidTimestampError

__all__ = ["as_bytes", "check_timestamp", "normalize_headers", "normalize_values"]

_INT64_MAX: Final = (1 << 63) - 1
_HEADER_OVERHEAD: Final = 6  # key length + value length varints


def as_bytes(obj: Any, what: str) -> bytes:
    """``obj`` as bytes for a record's ``what`` (value, key, header value)."""
    if isinstance(obj, bytes):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8")
    if isinstance(obj, bytearray | memoryview):
        return bytes(obj)
    raise InvalidRecordError(
        f"a record {what} must be bytes, str or None, not {type(obj).__name__}"
    )


def check_timestamp(timestamp: Any) -> None:
    if timestamp.__class__ is not int and (
        isinstance(timestamp, bool) or not isinstance(timestamp, int)
    ):
        raise InvalidTimestampError(
            f"timestamp must be an int of unix milliseconds, not {type(timestamp).__name__}"
        )
    if not 0 <= timestamp <= _INT64_MAX:
        raise InvalidTimestampError(f"timestamp {timestamp} is not in [0, 2**63)")


def normalize_headers(headers: Any) -> tuple[list[Header], int]:
    """Headers as a list of ``(str, bytes | None)``, and their approximate encoded size."""
    items: Sequence[Any]
    if isinstance(headers, Mapping):
        items = list(headers.items())
    elif isinstance(headers, list | tuple):
        items = headers
    else:
        raise InvalidRecordError(
            f"headers must be a list of (str, bytes) pairs or a dict, not {type(headers).__name__}"
        )
    out: list[Header] = []
    size = 1
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidRecordError(f"a header must be a (str, bytes) pair, got {item!r}")
        name, value = item
        if not isinstance(name, str):
            raise InvalidRecordError(f"a header key must be a str, got {name!r}")
        if value is not None and value.__class__ is not bytes:
            value = as_bytes(value, "header value")
        out.append((name, value))
        size += _HEADER_OVERHEAD + len(name.encode("utf-8", "replace")) + len(value or b"")
    return out, size


def normalize_values(values: Any) -> list[bytes | None]:
    """The batch API's values as a list of ``bytes | None``; one pass in C when all are bytes."""
    if isinstance(values, bytes | str) or not isinstance(values, Sequence):
        raise InvalidRecordError(
            f"values must be a sequence of bytes (a list, say), not {type(values).__name__}"
        )
    vals = values if isinstance(values, list) else list(values)
    kinds = set(map(type, vals))
    if kinds <= {bytes}:
        return vals
    return [v if v is None or v.__class__ is bytes else as_bytes(v, "value") for v in vals]
