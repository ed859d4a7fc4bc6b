"""Which Raft group waits on which fsync of a driver pass, so that each group goes on as
soon as *its own* files are durable.

A pass asks the storage Flusher to fsync every log and side file it wrote (and the
hard-state journal once). Finishing the whole batch only when the last of those fsyncs
returned made every group wait for the slowest: a vote (one journal fsync) waited behind
thousands of log fsyncs of other partitions, elections outlasted their timeouts, and
under load they stormed (issue 21). Here a group is finished the moment the futures it
waits on are done; groups that become durable together are finished in one loop callback.

Thread-safety: :meth:`add` and :meth:`start` run on the loop; the futures' callbacks run
in the Flusher's threads (or on the loop, for a future already done) under one lock; the
``on_durable`` callback runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["SyncRound"]

T = TypeVar("T")


class SyncRound(Generic[T]):
    """The waits of one pass; see the module doc."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_durable: Callable[[list[tuple[T, BaseException | None]]], None],
    ) -> None:
        self._loop = loop
        self._on_durable = on_durable
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._remaining: list[int] = []
        #: The first error of each item's futures (None: durable).
        self._errors: list[BaseException | None] = []
        self._waiters: dict[Future[int], list[int]] = {}
        self._ready: list[int] = []
        self._scheduled = False

    def add(self, item: T, futures: Iterable[Future[int]]) -> None:
        """``item`` is durable once every one of ``futures`` is done; it reports the first
        error among them (None: durable)."""
        index = len(self._items)
        unique = list(dict.fromkeys(futures))
        self._items.append(item)
        self._remaining.append(len(unique))
        self._errors.append(None)
        for future in unique:
            self._waiters.setdefault(future, []).append(index)
        if not unique:
            self._ready.append(index)

    def start(self) -> None:
        """Watch the futures; items with nothing to wait for are finished soon."""
        if self._ready:
            self._scheduled = True
            self._loop.call_soon(self._drain)
        for future in self._waiters:
            future.add_done_callback(self._done)

    def _done(self, future: Future[int]) -> None:
        error = future.exception()
        with self._lock:
            for index in self._waiters[future]:
                if self._errors[index] is None:
                    self._errors[index] = error
                self._remaining[index] -= 1
                if self._remaining[index] == 0:
                    self._ready.append(index)
            schedule = bool(self._ready) and not self._scheduled
            self._scheduled |= schedule
        if schedule:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
            self._scheduled = False
        if ready:
            self._on_durable([(self._items[i], self._errors[i]) for i in ready])
