"""Time as a parameter (STYLE.md 5): components take a ``Clock`` rather than calling ``time``.

``SystemClock`` is the real one; ``ManualClock`` lets tests move time by hand, so nothing
that depends on ``segment.ms``, ``retention.ms`` or a session timeout needs a real wait.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock milliseconds since the Unix epoch (record timestamps, retention)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go backwards (timeouts, rates)."""
        ...


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to. Not thread-safe; owned by one test."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = now_ms
        self._monotonic = 0.0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        self._now_ms += ms
        self._monotonic += ms / 1000.0
