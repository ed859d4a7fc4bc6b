"""The ``logd consume -o`` syntax (DESIGN.md "The command line"), parsed without I/O.

::

    OFFSET   start | end | N | -N (N before the end) | @TIME
    RANGE    A:B   consume from A, exit on reaching B (exclusive; B = end | N | @TIME)
             :B    = start:B     (so ":end" reads everything there is now, then exits)
    TIME     unix ms | unix s | RFC 3339 | -DURATION before now (e.g. @-1h, @-90s, @-1h30m)

Decisions (recorded here and in the issue note): a range's end is exclusive, like a Python
range and rpk's ``N1:N2``; ``end`` as a range end means the high watermark when the consumer
starts; numbers of 12 digits or more are milliseconds, shorter ones seconds (a seconds value
of 12 digits would be the year 5138); an RFC 3339 time without a zone is taken as UTC.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Literal

__all__ = ["OffsetSpecError", "Position", "StartStop", "parse_offset_spec", "parse_time"]

Kind = Literal["start", "end", "offset", "from_end", "time"]

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MS_DIGITS = 12


class OffsetSpecError(ValueError):
    """An ``-o`` value that does not parse; the message says what is accepted."""


@dataclasses.dataclass(frozen=True)
class Position:
    kind: Kind
    value: int = 0  # the offset, the count before the end, or the time in unix ms


@dataclasses.dataclass(frozen=True)
class StartStop:
    start: Position
    stop: Position | None  # None: follow the log forever


def parse_time(text: str, now_ms: int) -> int:
    """A TIME as unix milliseconds: unix ms, unix s, RFC 3339, or -DURATION before now."""
    if not text:
        raise OffsetSpecError("empty time: use unix ms, unix s, RFC 3339 or -DURATION (-1h)")
    if text.startswith("-"):
        return now_ms - _parse_duration(text[1:])
    if text.isdigit():
        value = int(text)
        return value if len(text) >= _MS_DIGITS else value * 1000
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise OffsetSpecError(
            f"bad time {text!r}: use unix ms, unix s, RFC 3339 (2024-05-01T12:00:00Z) "
            "or -DURATION (-1h)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _parse_duration(text: str) -> int:
    pos, total = 0, 0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if match is None:
            raise OffsetSpecError(f"bad duration {text!r}: use e.g. 90s, 15m, 1h30m, 2d")
        total += int(match.group(1)) * _UNIT_MS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise OffsetSpecError("empty duration: use e.g. 90s, 15m, 1h30m, 2d")
    return total


def _position(text: str, now_ms: int) -> Position:
    if text == "start":
        return Position("start")
    if text == "end":
        return Position("end")
    if text.startswith("@"):
        return Position("time", parse_time(text[1:], now_ms))
    if text.startswith("-") and text[1:].isdigit():
        return Position("from_end", int(text[1:]))
    if text.isdigit():
        return Position("offset", int(text))
    raise OffsetSpecError(
        f"bad offset {text!r}: use start, end, N, -N, @TIME or a range A:B (e.g. :end)"
    )


def _stop(text: str, now_ms: int) -> Position:
    stop = _position(text, now_ms)
    if stop.kind in ("start", "from_end"):
        raise OffsetSpecError(f"bad range end {text!r}: a range ends at end, N or @TIME")
    return stop


def parse_offset_spec(text: str, now_ms: int) -> StartStop:
    """Parse a whole ``-o`` value. ``now_ms`` anchors ``@-DURATION``."""
    text = text.strip()
    try:
        return StartStop(_position(text, now_ms), None)
    except OffsetSpecError as whole_error:
        # RFC 3339 times contain colons, so try every colon as the range separator and keep
        # the first split whose two sides both parse.
        for match in re.finditer(":", text):
            left, right = text[: match.start()], text[match.end() :]
            try:
                start = _position(left, now_ms) if left else Position("start")
                return StartStop(start, _stop(right, now_ms))
            except OffsetSpecError:
                continue
        if ":" in text:
            raise OffsetSpecError(
                f"bad range {text!r}: use A:B with A = start | N | -N | @TIME and "
                "B = end | N | @TIME (e.g. :end, 100:200, @-1h:end)"
            ) from None
        raise whole_error from None
