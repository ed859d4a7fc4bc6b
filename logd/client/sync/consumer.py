"""The sync consumer, in confluent-kafka's shape: ``assign``/``subscribe``, ``seek``,
``poll``, ``consume``, ``commit``.

The background event loop fetches (one long poll in flight per broker, prefetching while
the application works through the previous answer); records are decoded lazily on the
application's thread as ``poll()``/``consume()``/iteration ask for them, so no per-record
work crosses threads.

Groups (with ``group_id``): ``subscribe()`` joins the group; the loop keeps the membership
(heartbeats, rebalances; :mod:`logd.client.group.membership`) and the rebalance callbacks
``on_assign``/``on_revoke``/``on_lost`` run on the application's thread inside ``poll()``
/``consume()``, where positions are committed too (auto-commit every
``auto_commit_interval_ms``, on revoke and on close; :mod:`logd.client.consumer.group_side`).
``commit()`` is synchronous unless ``asynchronous=True`` (confluent-kafka's default is
asynchronous; a blocking commit is what a script means by "commit").

Thread-safety: one application thread polls (as with confluent-kafka); ``close()`` may be
called from another thread to stop a blocked ``poll()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer import actions
from logd.client.consumer.core import ConsumerCore, reading_side
from logd.client.consumer.fetch_buffer import CompletedFetch
from logd.client.consumer.group_side import Callback, GroupSide, Mode, topic_matcher
from logd.client.consumer.subscription import (
    check_partition,
)
from logd.client.sync.loop_thread import shared_loop
from logd.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    ConsumerRecord,
    TopicPartition,
)
from logd.clock import Clock, SystemClock
from logd.errors import InvalidRequestError
from logd.records.filtered import RecordFilter

__all__ = ["Consumer"]


class Consumer:
    """A sync consumer of assigned partitions. See the module docstring."""

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        record_filter: RecordFilter | None = None,
        **options: Any,
    ) -> None:
        """``record_filter(key, headers) -> bool``: only records it keeps are returned, and
        the values of the others are never decoded (an event channel's filter; see
        ``logd.client.patterns.filters``). Positions and commits move past dropped records."""
        self.config: ConsumerConfig = parse_config(ConsumerConfig, config, options)
        self._clock = clock or SystemClock()
        self._subs, self._buffer, self._reader = reading_side(self.config, record_filter)
        self._closed = False
        self._thread = shared_loop()
        self._core: ConsumerCore = self._thread.run(
            ConsumerCore.started(
                self.config, self._clock, self._subs, self._buffer, threadsafe_wakeups=True
            )
        )
        self._group = GroupSide(
            self.config, self._subs, self._reader, self._core.membership, self._clock
        )

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidRequestError("the consumer is closed")

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions, each from its offset (or a sentinel: OFFSET_BEGINNING,
        OFFSET_END, or none for ``auto_offset_reset``). Unknown topics/partitions raise."""
        self._check_open()
        tps = [check_partition(tp) for tp in partitions]
        self._group.use(Mode.ASSIGN)
        self._thread.run(self._core.check_assignment(tps))
        self._reader.drop()
        self._subs.assign(tps)
        self._core.wake_threadsafe()

    def unassign(self) -> None:
        self.assign([])

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(s.topic, s.partition) for s in self._subs.partitions.values()]

    def seek(self, partition: TopicPartition) -> None:
        """Read ``partition`` from its ``offset`` (or OFFSET_BEGINNING / OFFSET_END) on."""
        self._check_open()
        self._reader.drop(self._subs.seek(partition))
        self._core.wake_threadsafe()

    def seek_to_beginning(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._seek_all(partitions, OFFSET_BEGINNING)

    def seek_to_end(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        self._seek_all(partitions, OFFSET_END)

    def _seek_all(self, partitions: Iterable[TopicPartition] | None, offset: int) -> None:
        for state in self._subs.select(partitions):
            self.seek(TopicPartition(state.topic, state.partition, offset))

    def position(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """The next offset ``poll()`` returns for each partition (resolving pending resets)."""
        self._check_open()
        states = self._subs.select(partitions)
        if any(s.reset is not None for s in states):
            self._thread.run(self._core.resolve(states))
        return [TopicPartition(s.topic, s.partition, s.position) for s in states]

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop returning and fetching records of ``partitions`` until resumed."""
        self._check_open()
        for state in self._subs.pause(partitions):
            self._reader.drop(state)
        self._core.wake_threadsafe()

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open()
        self._subs.set_paused(partitions, False)
        self._core.wake_threadsafe()

    # -- offsets lookups ------------------------------------------------------------------------

    def offsets_for_times(
        self, partitions: Iterable[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        """For each partition, the first offset whose timestamp is >= ``offset`` (unix ms);
        offset -1 when there is none."""
        self._check_open()
        tps = [check_partition(tp) for tp in partitions]
        for tp in tps:
            if tp.offset < 0:
                raise InvalidRequestError(
                    f"offsets_for_times wants a timestamp >= 0 in offset, got {tp.offset}"
                )
        return self._thread.run(self._core.offsets_for_times(tps), timeout)

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        """(low, high): the log start offset and the high watermark of ``partition``."""
        self._check_open()
        tp = check_partition(partition)
        if cached:
            state = self._subs.partitions.get((tp.topic, tp.partition))
            if state is not None and state.high_watermark >= 0:
                return state.log_start_offset, state.high_watermark
        return self._thread.run(self._core.watermarks(tp), timeout)

    # -- reading ---------------------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> ConsumerRecord | None:
        """The next record, waiting up to ``timeout`` s (None or < 0: forever)."""
        self._check_open()
        if self._group.mode != Mode.SUBSCRIBE:
            return self._reader.next(self._waiter(timeout))
        wait = self._waiter(timeout)
        while True:
            self._before_poll()
            record = self._reader.next(wait)
            if record is not None or self._closed or self._expired(wait):
                return record

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[ConsumerRecord]:
        """Up to ``num_messages`` records: waits up to ``timeout`` s (< 0: forever) for the
        first, then takes what is already fetched without waiting more."""
        self._check_open()
        if isinstance(num_messages, bool) or not isinstance(num_messages, int) or num_messages < 1:
            raise InvalidRequestError(f"num_messages must be an int >= 1, got {num_messages!r}")
        if self._group.mode != Mode.SUBSCRIBE:
            return self._reader.take(num_messages, self._waiter(timeout))
        wait = self._waiter(timeout)
        while True:
            self._before_poll()
            records = self._reader.take(num_messages, wait)
            if records or self._closed or self._expired(wait):
                return records

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """Every record, blocking for more; ends when the consumer is closed."""
        while not self._closed:
            record = self.poll(None)
            if record is not None:
                yield record

    def _waiter(self, timeout: float | None) -> _Waiter:
        return _Waiter(self, None if timeout is None or timeout < 0 else time.monotonic() + timeout)

    @staticmethod
    def _expired(wait: Callable[[], CompletedFetch | None]) -> bool:
        deadline = wait.deadline if isinstance(wait, _Waiter) else None
        return deadline is not None and time.monotonic() >= deadline

    # -- groups ----------------------------------------------------------------------------------

    def subscribe(
        self,
        topics: Iterable[str] | str = (),
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
        *,
        pattern: str | None = None,
    ) -> None:
        """Join the group (``group_id``) reading ``topics`` -- names, or ``^regex`` entries
        as confluent-kafka takes them -- and/or every topic whose whole name matches
        ``pattern``; topics created later that match join at the next metadata refresh
        (``metadata_max_age_ms``). Callbacks get ``(consumer, [TopicPartition])`` on the
        application's thread: ``on_assign`` with the partitions added (cooperative) or the
        whole assignment (eager), ``on_revoke`` before partitions are given up (after their
        positions are auto-committed), ``on_lost`` when the group went on without us
        (default: ``on_revoke``)."""
        self._check_open()
        membership = self._group.grouped
        plain, matcher = topic_matcher(topics, pattern)
        self._group.set_callbacks(on_assign, on_revoke, on_lost)
        self._group.use(Mode.SUBSCRIBE)
        self._thread.run(_call(lambda: membership.subscribe(plain, matcher)))

    def unsubscribe(self) -> None:
        """Give every partition up (commit, ``on_revoke``) and leave the group."""
        self._check_open()
        if self._group.mode == Mode.SUBSCRIBE:
            actions.run(self._group.give_up_actions(), self._execute)
            self._thread.run(self._group.grouped.unsubscribe())
        self._group.mode = Mode.NONE

    def memberid(self) -> str | None:
        """The member id the group coordinator gave this consumer (None before joining)."""
        membership = self._core.membership
        return (membership.member_id or None) if membership is not None else None

    def commit(
        self,
        message: ConsumerRecord | None = None,
        offsets: Iterable[TopicPartition] | None = None,
        asynchronous: bool = False,
    ) -> list[TopicPartition] | None:
        """Commit ``offsets`` (each the next offset to read), or the offset after
        ``message``, or else the current position of every assigned partition. Waits for
        the coordinator's answer (raising its error) unless ``asynchronous``."""
        self._check_open()
        membership = self._group.grouped
        wanted = self._group.commit_offsets(message, offsets)
        if asynchronous:
            self._execute(actions.CommitInBackground(wanted))
            return None
        self._thread.run(membership.commit(wanted))
        self._group.note_committed(wanted)
        return [TopicPartition(t, p, o) for (t, p), o in sorted(wanted.items())]

    def committed(
        self, partitions: Iterable[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        """The group's committed offset of each partition (OFFSET_INVALID when none)."""
        self._check_open()
        membership = self._group.grouped
        keys = [(tp.topic, tp.partition) for tp in (check_partition(p) for p in partitions)]
        found = self._thread.run(membership.fetch_committed(keys), timeout)
        return [TopicPartition(t, p, found.get((t, p), OFFSET_INVALID)) for t, p in keys]

    def _before_poll(self) -> None:
        """At every poll boundary: serve rebalance steps, raise a fatal group error,
        auto-commit what is due (:meth:`GroupSide.poll_actions`)."""
        group = self._group
        if group.membership is not None and group.poll_due(self._clock.monotonic()):
            actions.run(group.poll_actions(), self._execute)

    def _execute(self, action: actions.Action) -> Any:
        """One action of :mod:`logd.client.consumer.actions`, on the application's thread."""
        if isinstance(action, actions.CommitNow):
            return self._thread.run(self._group.grouped.commit(action.offsets))
        if isinstance(action, actions.Invoke):
            return action.callback(self, action.partitions)
        if isinstance(action, actions.WakeFetcher):
            return self._core.wake_threadsafe()
        coro = self._group.commit_in_background(action.offsets)
        return asyncio.run_coroutine_threadsafe(coro, self._thread.loop)

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop fetching and release the connections (idempotent). A group member commits
        its positions (with auto-commit), calls ``on_revoke`` and leaves the group -- a
        static member (``group_instance_id``) does not leave, so a restart within
        ``session_timeout_ms`` moves nothing."""
        if self._closed:
            return
        if self._group.mode == Mode.SUBSCRIBE and self._core.membership is not None:
            actions.run(self._group.give_up_actions(), self._execute)
        self._closed = True
        self._buffer.interrupt()
        try:
            self._thread.run(self._core.close())
        finally:
            self._buffer.clear()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Waiter:
    """Blocks for the next fetch until a deadline (None: forever). Owned by one poll()."""

    __slots__ = ("consumer", "deadline")

    def __init__(self, consumer: Consumer, deadline: float | None) -> None:
        self.consumer = consumer
        self.deadline = deadline

    def __call__(self) -> CompletedFetch | None:
        consumer = self.consumer
        if consumer._closed:
            return None
        deadline = self.deadline
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        membership = consumer._core.membership
        if membership is None or remaining == 0.0:
            return consumer._buffer.take(remaining)
        with membership.inside_poll():
            return consumer._buffer.take(remaining)


async def _call(fn: Callable[[], None]) -> None:
    fn()
