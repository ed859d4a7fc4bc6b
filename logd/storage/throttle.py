"""A rate limit on the cleaner's I/O (Kafka's ``Throttler``, used for
``log.cleaner.io.max.bytes.per.second``).

The caller reports the bytes it read or wrote; every ``check_interval_s`` the observed rate
is compared with the allowed one and, when above it, the caller sleeps long enough to bring
the average back down.  Unlike Kafka's, it also sleeps within an interval as soon as it is
``min_pause_s`` ahead: Kafka's lets a whole interval's reads go at full speed and then
pauses, a burst that took a third of the appends' throughput on this 2-core machine; here
the cleaner yields after every read window (about 1 MiB), so its work per turn is bounded.
Time and sleep are parameters (STYLE.md 5), so tests run it on a fake clock.

It is also how a clean is stopped early: once ``stop`` is set, the next call raises
:class:`CleanAborted` (and a pause in progress ends at once), so a broker's shutdown never
waits for a long clean; the clean in progress leaves only a ``.cleaned`` directory behind,
which it removes (and which the next open would drop).

Not thread-safe: one throttler belongs to one cleaner thread (``stop`` may be set from any).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["UNLIMITED", "CleanAborted", "Throttler"]

#: No limit (Kafka's default is Double.MAX_VALUE).
UNLIMITED: Final = float("inf")


class CleanAborted(Exception):
    """The cleaner is stopping: the clean in progress gives up (nothing was swapped)."""


class Throttler:
    """Sleeps in :meth:`maybe_throttle` so that bytes per second stay ≤ ``rate``."""

    def __init__(
        self,
        rate: float,
        *,
        check_interval_s: float = 0.1,
        min_pause_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        assert rate > 0, rate
        self.rate = rate
        self._stop = stop
        self._interval = check_interval_s
        self._min_pause = min_pause_s
        self._clock = clock
        self._sleep = sleep or (stop.wait if stop is not None else time.sleep)
        self._start = clock()
        self._observed = 0.0
        #: Pauses begun, and seconds paused so far (for the cleaner's statistics).
        self.pauses = 0
        self.slept_s = 0.0

    def maybe_throttle(self, nbytes: int) -> None:
        if self._stop is not None and self._stop.is_set():
            raise CleanAborted
        if self.rate == UNLIMITED:
            return
        self._observed += nbytes
        now = self._clock()
        elapsed = now - self._start
        pause = self._observed / self.rate - elapsed
        if pause >= self._min_pause or (pause > 0 and elapsed >= self._interval):
            self.pauses += 1
            self._sleep(pause)
            self.slept_s += pause
            now = self._clock()
            elapsed = now - self._start
        if elapsed >= self._interval:
            self._start = now
            self._observed = 0.0
