"""A rate limit on the cleaner's I/O (Kafka's ``Throttler``, used for
``log.cleaner.io.max.bytes.per.second``).

The caller reports the bytes it read or wrote; every ``check_interval_s`` the observed rate
is compared with the allowed one and, when above it, the caller sleeps long enough to bring
the average back down.  Time and sleep are parameters (STYLE.md 5), so tests run it on a
fake clock.

Not thread-safe: one throttler belongs to one cleaner thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

__all__ = ["UNLIMITED", "Throttler"]

#: No limit (Kafka's default is Double.MAX_VALUE).
UNLIMITED: Final = float("inf")


class Throttler:
    """Sleeps in :meth:`maybe_throttle` so that bytes per second stay ≤ ``rate``."""

    def __init__(
        self,
        rate: float,
        *,
        check_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert rate > 0, rate
        self.rate = rate
        self._interval = check_interval_s
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._observed = 0.0
        #: Seconds slept so far (for the cleaner's statistics).
        self.slept_s = 0.0

    def maybe_throttle(self, nbytes: int) -> None:
        if self.rate == UNLIMITED:
            return
        self._observed += nbytes
        now = self._clock()
        elapsed = now - self._start
        if elapsed < self._interval:
            return
        wanted = self._observed / self.rate
        if wanted > elapsed:
            pause = wanted - elapsed
            self._sleep(pause)
            self.slept_s += pause
            now = self._clock()
        self._start = now
        self._observed = 0.0
