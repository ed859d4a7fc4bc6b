"""Record filters for an event channel: predicates on a record's key and headers.

A consumer given ``record_filter=`` returns only the records the filter keeps, and never
decodes the values of the others (:mod:`logd.records.filtered`). These builders make the
common filters and combine them::

    keep = all_of(header_equals("type", "order.created"), key_prefix(b"eu-"))
    consumer = Consumer(brokers=..., group_id="billing", record_filter=keep)

A filter is any ``keep(key: bytes | None, headers: tuple[(str, bytes | None), ...]) ->
bool``; it runs on the thread that polls, once per record, so keep it cheap. Header
values compare as bytes (a ``str`` given here is UTF-8 encoded once, up front).

Pure functions; the filters they return are thread-safe.
"""

from __future__ import annotations

import re

from logd.errors import InvalidRequestError
from logd.records.filtered import RecordFilter
from logd.records.record import Header

__all__ = [
    "RecordFilter",
    "all_of",
    "any_of",
    "has_header",
    "header_equals",
    "header_in",
    "key_equals",
    "key_matches",
    "key_prefix",
    "negate",
]


def _as_bytes(value: bytes | str | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise InvalidRequestError(f"{what} must be bytes, str or None, got {value!r}")


def header_equals(name: str, value: bytes | str | None) -> RecordFilter:
    """Keep records with a header ``name`` whose value is ``value`` (any of its copies)."""
    wanted = _as_bytes(value, "a header value")

    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return any(n == name and v == wanted for n, v in headers)

    return keep


def header_in(name: str, values: list[bytes | str] | tuple[bytes | str, ...]) -> RecordFilter:
    """Keep records with a header ``name`` whose value is one of ``values``."""
    wanted = frozenset(_as_bytes(v, "a header value") for v in values)

    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return any(n == name and v in wanted for n, v in headers)

    return keep


def has_header(name: str) -> RecordFilter:
    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return any(n == name for n, _ in headers)

    return keep


def key_equals(value: bytes | str) -> RecordFilter:
    wanted = _as_bytes(value, "a key")

    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return key == wanted

    return keep


def key_prefix(prefix: bytes | str) -> RecordFilter:
    wanted = _as_bytes(prefix, "a key prefix") or b""

    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return key is not None and key.startswith(wanted)

    return keep


def key_matches(pattern: bytes | str) -> RecordFilter:
    """Keep records whose whole key matches the regular expression ``pattern``."""
    raw = _as_bytes(pattern, "a key pattern") or b""
    try:
        compiled = re.compile(raw)
    except re.error as exc:
        raise InvalidRequestError(f"bad key pattern {pattern!r}: {exc}") from None

    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return key is not None and compiled.fullmatch(key) is not None

    return keep


def all_of(*filters: RecordFilter) -> RecordFilter:
    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return all(f(key, headers) for f in filters)

    return keep


def any_of(*filters: RecordFilter) -> RecordFilter:
    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return any(f(key, headers) for f in filters)

    return keep


def negate(inner: RecordFilter) -> RecordFilter:
    def keep(key: bytes | None, headers: tuple[Header, ...]) -> bool:
        return not inner(key, headers)

    return keep
