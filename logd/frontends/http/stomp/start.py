"""Where a STOMP subscription starts reading: its ``x-offset`` header (RabbitMQ streams call
it ``x-stream-offset``; both names are read).

Values: ``next`` (the default; also ``end``, ``latest``): records produced from now on;
``first`` (``beginning``, ``earliest``): everything kept; ``last``: the last record of each
partition, then what follows; an offset ``N`` (every partition subscribed from offset N; an
offset outside the log starts at its nearer end); ``timestamp=MS`` (milliseconds since the
epoch) or an RFC 3339 time: the first record at or after that time. With ``x-group``, a
partition the group has committed an offset for starts there instead.

Pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Final

__all__ = ["StartAt", "parse_start"]

_NEXT: Final = frozenset({"next", "end", "latest"})
_FIRST: Final = frozenset({"first", "beginning", "earliest"})


@dataclasses.dataclass(frozen=True, slots=True)
class StartAt:
    """One of: ``where`` "next" | "first" | "last"; an ``offset``; a ``timestamp_ms``."""

    where: str = "next"
    offset: int = -1
    timestamp_ms: int = -1


def parse_start(text: str | None) -> StartAt:
    """The start an ``x-offset`` header names; ValueError (its message says why) if none."""
    if text is None:
        return StartAt()
    value = text.strip().lower()
    if value in _NEXT:
        return StartAt("next")
    if value in _FIRST:
        return StartAt("first")
    if value == "last":
        return StartAt("last")
    if value.isascii() and value.isdigit() and len(value) <= 19:
        return StartAt("offset", offset=int(value))
    if value.startswith("timestamp="):
        millis = value.removeprefix("timestamp=")
        if millis.isascii() and millis.isdigit() and len(millis) <= 16:
            return StartAt("timestamp", timestamp_ms=int(millis))
    elif "-" in value:  # a date; fromisoformat alone also takes a run of digits
        try:
            when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return StartAt("timestamp", timestamp_ms=max(int(when.timestamp() * 1000), 0))
    raise ValueError(
        f"x-offset {text[:40]!r}: expected next, first, last, an offset, timestamp=MS or an"
        " RFC 3339 time"
    )
