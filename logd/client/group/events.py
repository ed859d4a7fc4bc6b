"""Rebalance steps that need the application: the hand-off between the event loop and it.

A rebalance runs on the client's event loop, but three of its steps belong to the
application, because only there do positions mean "processed" and only there may user code
run: giving partitions up (``REVOKE``: commit their positions, call ``on_revoke``, stop
reading them), losing them (``LOST``: call ``on_lost``, no commit -- the group already gave
them to others), and taking new ones (``ASSIGN``: start them at their committed offsets,
call ``on_assign``). The loop puts a :class:`RebalanceEvent` in the :class:`EventChannel`
and awaits its ``done`` future; the application serves events at the start of every
``poll()``/``consume()`` (sync) or ``getone()``/``getmany()`` (asyncio) -- as Kafka's Java
consumer runs its rebalance listener inside ``poll()`` -- and completes them. A consumer
that does not poll holds the rebalance up until ``max_poll_interval_ms``, as in Kafka.

Thread-safety: :meth:`EventChannel.put` runs on the loop; :meth:`take` and :meth:`complete`
may run on any thread (the sync consumer's application thread).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

from logd.client.group.steps import EventKind
from logd.client.types import TopicPartition

__all__ = ["EventChannel", "RebalanceEvent"]


class RebalanceEvent:
    """One step for the application. ``partitions`` of an ASSIGN carry their starting
    offsets (the committed offset, or ``OFFSET_STORED`` for the reset policy)."""

    __slots__ = ("done", "kind", "partitions")

    def __init__(
        self, kind: EventKind, partitions: list[TopicPartition], done: asyncio.Future[None]
    ) -> None:
        self.kind = kind
        self.partitions = partitions
        self.done = done

    def __repr__(self) -> str:
        return f"RebalanceEvent({self.kind.value}, {len(self.partitions)} partitions)"


class EventChannel:
    """Events from the loop to the application, in order. See the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, notify: Callable[[], None]) -> None:
        self._loop = loop
        self._events: collections.deque[RebalanceEvent] = collections.deque()
        #: Wakes an application blocked waiting for records (called on the loop).
        self.notify = notify

    @property
    def pending(self) -> bool:
        return bool(self._events)

    def put(self, kind: EventKind, partitions: list[TopicPartition]) -> RebalanceEvent:
        event = RebalanceEvent(kind, partitions, self._loop.create_future())
        self._events.append(event)
        self.notify()
        return event

    def take(self) -> RebalanceEvent | None:
        try:
            return self._events.popleft()
        except IndexError:
            return None

    def complete(self, event: RebalanceEvent) -> None:
        """The application has served ``event`` (from any thread)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            _resolve(event.done)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(_resolve, event.done)

    def clear(self) -> list[RebalanceEvent]:
        """Forget every event not served (closing); returns them."""
        events = list(self._events)
        self._events.clear()
        return events


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
