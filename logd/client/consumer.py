"""The sync consumer, in confluent-kafka's shape: ``assign``, ``seek``, ``poll``, ``consume``.

The background event loop fetches (one long poll in flight per broker, prefetching while
the application works through the previous answer); records are decoded lazily on the
application's thread as ``poll()``/``consume()``/iteration ask for them, so no per-record
work crosses threads. Consumer groups (``subscribe``, commits) come with issue 6;
``group_id`` is accepted and kept for them.

Thread-safety: one application thread polls (as with confluent-kafka); ``close()`` may be
called from another thread to stop a blocked ``poll()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer_core import ConsumerCore
from logd.client.fetch_buffer import CompletedFetch, FetchBuffer, RecordReader
from logd.client.loop_thread import shared_loop
from logd.client.subscription import (
    RESET_EARLIEST,
    RESET_LATEST,
    SubscriptionState,
    check_partition,
)
from logd.client.types import OFFSET_BEGINNING, OFFSET_END, ConsumerRecord, TopicPartition
from logd.clock import Clock, SystemClock
from logd.errors import InvalidRequestError

__all__ = ["Consumer"]


def default_reset(config: ConsumerConfig) -> int | None:
    return {"earliest": RESET_EARLIEST, "latest": RESET_LATEST}.get(config.auto_offset_reset)


class Consumer:
    """A sync consumer of assigned partitions. See the module docstring."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self.config: ConsumerConfig = parse_config(ConsumerConfig, config, options)
        self._clock = clock or SystemClock()
        self._subs = SubscriptionState(default_reset(self.config))
        self._buffer = FetchBuffer(self.config.max_buffered_bytes)
        self._reader = RecordReader(self._subs, self._buffer, self.config.max_buffered_bytes)
        self._closed = False
        self._thread = shared_loop()
        self._core: ConsumerCore = self._thread.run(self._start())

    async def _start(self) -> ConsumerCore:
        core = ConsumerCore(
            self.config, self._clock, self._subs, self._buffer, threadsafe_wakeups=True
        )
        try:
            await core.start()
        except BaseException:
            await core.close()
            raise
        return core

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidRequestError("the consumer is closed")

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions, each from its offset (or a sentinel: OFFSET_BEGINNING,
        OFFSET_END, or none for ``auto_offset_reset``). Unknown topics/partitions raise."""
        self._check_open()
        tps = [check_partition(tp) for tp in partitions]
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
        with self._subs.lock:
            for state in self._subs.select(partitions):
                state.paused = True
                # What was fetched ahead is dropped; resume fetches it again from here.
                state.epoch += 1
                if state.reset is None and state.position >= 0:
                    state.fetch_offset = state.position
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
        return self._reader.next(self._waiter(timeout))

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[ConsumerRecord]:
        """Up to ``num_messages`` records: waits up to ``timeout`` s (< 0: forever) for the
        first, then takes what is already fetched without waiting more."""
        self._check_open()
        if isinstance(num_messages, bool) or not isinstance(num_messages, int) or num_messages < 1:
            raise InvalidRequestError(f"num_messages must be an int >= 1, got {num_messages!r}")
        return self._reader.take(num_messages, self._waiter(timeout))

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """Every record, blocking for more; ends when the consumer is closed."""
        while not self._closed:
            record = self.poll(None)
            if record is not None:
                yield record

    def _waiter(self, timeout: float | None) -> Callable[[], CompletedFetch | None]:
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout

        def wait() -> CompletedFetch | None:
            if self._closed:
                return None
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            return self._buffer.take(remaining)

        return wait

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop fetching and release the connections (idempotent)."""
        if self._closed:
            return
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
