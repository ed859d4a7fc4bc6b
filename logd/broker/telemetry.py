"""The broker's running figures (issue 20): what front ends report at their request boundary,
what the seam counts on produce and fetch, and where the lower layers keep theirs.

**The one instrumentation call of a front end** (its request boundary, once per request)::

    started = time.perf_counter()
    ...                                  # parse, call the seam, write the answer
    seam.telemetry.request("kafka", "produce", started, bytes_in, bytes_out, error=False)

``request`` names the request as the front end's protocol does (Kafka's API names, gRPC's
method names, an HTTP route's name); names beyond :data:`MAX_REQUEST_KINDS` per listener are
counted as ``other``, so a client inventing names cannot grow the label set. Cost: a dict
lookup, a bisect and four additions (no lock: the broker's event loop is the only writer).

The admin front end turns this object into Prometheus families when scraped
(``logd.frontends.admin.metrics``); nothing here knows Prometheus. The counters of the
lower layers stay where they are kept (the Raft driver's elections, the flusher's fsync
histogram, the cleaner's cleans) and are reached through the references the node sets.

Ownership: one per broker, written on its event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol

from logd.records.header import count_records
from logd.stats import Histogram

__all__ = ["MAX_REQUEST_KINDS", "CleanerCounts", "RaftCounts", "RequestFigures", "Telemetry"]

#: Distinct request names one listener may report before the rest count as ``other``.
MAX_REQUEST_KINDS: Final = 96
OTHER: Final = "other"


class RaftCounts(Protocol):
    """The Raft driver's counters (``logd.cluster.driver.RaftDriver``)."""

    elections: int
    leadership_changes: int


class CleanerCounts(Protocol):
    """The log cleaner's counters (``logd.storage.cleaner.LogCleaner``)."""

    cleans: int


class RequestFigures:
    """One (listener, request) pair: latency, bytes in and out, failures."""

    __slots__ = ("bytes_in", "bytes_out", "errors", "latency")

    def __init__(self) -> None:
        self.latency = Histogram()
        self.bytes_in = 0
        self.bytes_out = 0
        self.errors = 0


class Telemetry:
    """See the module docstring."""

    def __init__(self) -> None:
        #: (listener, request) -> figures.
        self.requests: dict[tuple[str, str], RequestFigures] = {}
        self._kinds: dict[str, int] = {}
        # Counted by the seam for every front end.
        self.records_produced = 0
        self.bytes_produced = 0
        self.records_fetched = 0
        self.bytes_fetched = 0
        #: Set by the node: the Raft driver's counters, the flusher's fsync histogram, the
        #: log cleaner's counters.
        self.raft: RaftCounts | None = None
        self.fsync: Histogram | None = None
        self.cleaner: CleanerCounts | None = None
        #: Listener -> its open connections now, asked at scrape time (a front end that
        #: keeps connections sets its own; nothing is counted on the hot path).
        self.connections: dict[str, Callable[[], int]] = {}

    def request(
        self,
        listener: str,
        request: str,
        started: float,
        bytes_in: int = 0,
        bytes_out: int = 0,
        *,
        error: bool = False,
    ) -> None:
        """One request answered (see the module docstring); ``started`` is the
        ``time.perf_counter()`` of its arrival."""
        figures = self.requests.get((listener, request))
        if figures is None:
            figures = self._new(listener, request)
        figures.latency.observe(time.perf_counter() - started)
        figures.bytes_in += bytes_in
        figures.bytes_out += bytes_out
        if error:
            figures.errors += 1

    def _new(self, listener: str, request: str) -> RequestFigures:
        kinds = self._kinds.get(listener, 0)
        if kinds >= MAX_REQUEST_KINDS:
            request = OTHER
            existing = self.requests.get((listener, OTHER))
            if existing is not None:
                return existing
        self._kinds[listener] = kinds + 1
        figures = self.requests[(listener, request)] = RequestFigures()
        return figures

    def produced(self, records: int, size: int) -> None:
        self.records_produced += records
        self.bytes_produced += size

    def fetched(self, data: bytes) -> None:
        if data:
            self.records_fetched += count_records(data)
            self.bytes_fetched += len(data)
