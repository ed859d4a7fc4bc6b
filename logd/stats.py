"""Cheap figures for the hot paths: a fixed-bucket latency :class:`Histogram` that any layer
may keep and the admin front end reads at scrape time (issue 20).

Why not ``prometheus_client``'s own Histogram here: each of its ``observe`` calls takes a
lock and walks its buckets (measured on this machine: ~3-4 µs, against ~0.5 µs for this
class), and its metrics register in a process-wide registry, while logd keeps one set of
figures per broker object (tests run several brokers in one process). The layers below the
front ends keep plain counters and these histograms; ``logd.frontends.admin`` turns them
into Prometheus families when scraped, so collection costs nothing between scrapes.

Thread-safety: a histogram written from one thread (the event loop) needs no lock; one
written from several threads (the flusher's helpers) is made with ``locked=True``. A reader
on another thread may see a count one step ahead of a bucket: harmless for monitoring.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from typing import Final

__all__ = ["LATENCY_BUCKETS", "Histogram"]

#: Upper bounds (seconds) of request and fsync latency buckets: 100 µs .. 10 s, roughly
#: x2.5 apart (Prometheus' default set, extended down for fsyncs and local requests).
LATENCY_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Histogram:
    """Counts of observations at or below each bound (non-cumulative; the last slot is
    +Inf), their sum and their number."""

    __slots__ = ("_lock", "bounds", "buckets", "count", "sum")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS, *, locked: bool = False) -> None:
        self.bounds: tuple[float, ...] = tuple(bounds)
        self.buckets: list[int] = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self._lock = threading.Lock() if locked else None

    def observe(self, value: float) -> None:
        if self._lock is None:
            self.buckets[bisect.bisect_left(self.bounds, value)] += 1
            self.count += 1
            self.sum += value
            return
        with self._lock:
            self.buckets[bisect.bisect_left(self.bounds, value)] += 1
            self.count += 1
            self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` for every bound and +Inf, as
        Prometheus' ``_bucket`` series want them."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip((*self.bounds, float("inf")), list(self.buckets), strict=True):
            total += n
            out.append((bound, total))
        return out
