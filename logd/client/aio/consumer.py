"""The asyncio consumer, in aiokafka's shape: ``getone``, ``getmany``, ``async for``.

Runs on the caller's event loop: the fetcher is a task of that loop and records are
decoded lazily as they are taken. With ``group_id``, ``subscribe()`` joins the group; the
membership runs as tasks of the same loop, and rebalance steps (commit on revoke, the
``on_assign``/``on_revoke``/``on_lost`` callbacks, plain functions or coroutines) are served
at the start of ``getone()``/``getmany()`` -- the poll boundary, where every record returned
before counts as processed (see :mod:`logd.client.consumer.group_side`).

Not thread-safe: use it from the event loop it was started on.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import nullcontext
from types import TracebackType
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer import actions
from logd.client.consumer.core import ConsumerCore, reading_side
from logd.client.consumer.group_side import Callback, GroupSide, Mode, topic_matcher
from logd.client.consumer.subscription import check_partition
from logd.client.group.membership import GroupMembership
from logd.client.types import OFFSET_BEGINNING, OFFSET_END, ConsumerRecord, TopicPartition
from logd.clock import Clock, SystemClock
from logd.errors import InvalidRequestError, NetworkError
from logd.records.filtered import RecordFilter

__all__ = ["AsyncConsumer"]


class AsyncConsumer:
    """An asyncio consumer of assigned partitions. Loop-owned."""

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
        self._arrived = asyncio.Event()
        self._buffer.on_put = self._arrived.set
        self._core: ConsumerCore | None = None
        self._group: GroupSide | None = None
        self._commits: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect (BrokerUnavailableError naming the addresses when none answers)."""
        if self._core is not None:
            return
        core = await ConsumerCore.started(
            self.config, self._clock, self._subs, self._buffer, threadsafe_wakeups=False
        )
        self._core = core
        self._group = GroupSide(self.config, self._subs, self._reader, core.membership, self._clock)

    @property
    def core(self) -> ConsumerCore:
        if self._core is None:
            raise NetworkError("the consumer is not started (use `async with` or start())")
        return self._core

    # -- assignment and positions ------------------------------------------------------------

    @property
    def group(self) -> GroupSide:
        if self._group is None:
            raise NetworkError("the consumer is not started (use `async with` or start())")
        return self._group

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions (unknown ones surface as errors when fetched)."""
        tps = [check_partition(tp) for tp in partitions]
        self.group.use(Mode.ASSIGN)
        self._reader.drop()
        self._subs.assign(tps)
        self.core.fetcher.wakeup()

    async def assign_checked(self, partitions: Iterable[TopicPartition]) -> None:
        """:meth:`assign`, after checking every topic and partition exists."""
        tps = [check_partition(tp) for tp in partitions]
        await self.core.check_assignment(tps)
        self.assign(tps)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(s.topic, s.partition) for s in self._subs.partitions.values()}

    def seek(self, partition: TopicPartition, offset: int | None = None) -> None:
        """Read from ``offset`` (or ``partition.offset``) on; aiokafka's two-argument form
        and confluent's one-argument form both work."""
        if offset is not None:
            partition = TopicPartition(partition.topic, partition.partition, offset)
        self._reader.drop(self._subs.seek(partition))
        self.core.fetcher.wakeup()

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for state in self._subs.select(partitions or None):
            self.seek(TopicPartition(state.topic, state.partition, OFFSET_BEGINNING))

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        for state in self._subs.select(partitions or None):
            self.seek(TopicPartition(state.topic, state.partition, OFFSET_END))

    async def position(self, partition: TopicPartition) -> int:
        """The next offset this consumer returns for ``partition``."""
        (state,) = self._subs.select([partition])
        await self.core.resolve([state])
        return state.position

    def pause(self, *partitions: TopicPartition) -> None:
        for state in self._subs.pause(partitions):
            self._reader.drop(state)

    def resume(self, *partitions: TopicPartition) -> None:
        self._subs.set_paused(partitions, False)
        self.core.fetcher.wakeup()

    async def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int | None]:
        """aiokafka's shape: ``{tp: timestamp}`` -> ``{tp: offset or None}``."""
        tps = [
            check_partition(TopicPartition(tp.topic, tp.partition, ts))
            for tp, ts in timestamps.items()
        ]
        found = await self.core.offsets_for_times(tps)
        return {
            TopicPartition(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
            for tp in found
        }

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        found = await self.core.beginning_offsets([check_partition(tp) for tp in partitions])
        return {TopicPartition(t, p): o for (t, p), o in found.items()}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        found = await self.core.end_offsets([check_partition(tp) for tp in partitions])
        return {TopicPartition(t, p): o for (t, p), o in found.items()}

    async def get_watermark_offsets(self, partition: TopicPartition) -> tuple[int, int]:
        return await self.core.watermarks(check_partition(partition))

    # -- reading ---------------------------------------------------------------------------------

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for fetched data (up to ``timeout`` s); False on timeout. Waiting here is
        polling, as far as ``max_poll_interval_ms`` is concerned."""
        self._arrived.clear()
        if self._buffer.has_data:
            return True
        membership = self._core.membership if self._core is not None else None
        try:
            with membership.inside_poll() if membership is not None else nullcontext():
                async with asyncio.timeout(timeout):  # not wait_for: see _sleep in membership
                    await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    async def getone(self) -> ConsumerRecord:
        """The next record, waiting as long as it takes."""
        self.core  # noqa: B018 - raises when not started
        while True:
            await self._before_poll()
            record = self._reader.next()
            if record is not None:
                return record
            await self._wait(None)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """What is fetched (waiting up to ``timeout_ms`` for something), by partition."""
        self.core  # noqa: B018 - raises when not started
        if partitions:
            raise InvalidRequestError("getmany() per partition is not supported; pause others")
        limit = max_records if max_records is not None else 1 << 30
        records = await self._take(limit, timeout_ms)
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for record in records:
            out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    async def _take(self, limit: int, timeout_ms: int) -> list[ConsumerRecord]:
        await self._before_poll()
        records = self._reader.take(limit)
        if not records and timeout_ms > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_ms / 1000.0
            while not records:
                remaining = deadline - loop.time()
                if remaining <= 0 or not await self._wait(remaining):
                    break
                await self._before_poll()
                records = self._reader.take(limit)
        return records

    def __aiter__(self) -> AsyncIterator[ConsumerRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ConsumerRecord]:
        while self._core is not None:
            yield await self.getone()

    # -- groups ----------------------------------------------------------------------------------

    def _membership(self) -> GroupMembership:
        return self.group.grouped

    async def subscribe(
        self,
        topics: Iterable[str] | str = (),
        pattern: str | None = None,
        *,
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None:
        """Join the group reading ``topics`` and/or every topic whose name matches
        ``pattern`` (see ``Consumer.subscribe``); callbacks get ``(consumer, partitions)``
        and may be coroutines."""
        membership = self._membership()
        plain, matcher = topic_matcher(topics, pattern)
        self.group.set_callbacks(on_assign, on_revoke, on_lost)
        self.group.use(Mode.SUBSCRIBE)
        membership.subscribe(plain, matcher)

    async def unsubscribe(self) -> None:
        """Give every partition up (commit, ``on_revoke``) and leave the group."""
        if self.group.mode == Mode.SUBSCRIBE:
            await actions.run_async(self.group.give_up_actions(), self._execute)
            await self._membership().unsubscribe()
        self.group.mode = Mode.NONE

    @property
    def member_id(self) -> str | None:
        membership = self.core.membership
        return (membership.member_id or None) if membership is not None else None

    async def commit(
        self, offsets: Mapping[TopicPartition, int] | Iterable[TopicPartition] | None = None
    ) -> None:
        """Commit ``{tp: offset}`` or TopicPartitions with offsets (each the next offset to
        read), else every current position; raises the coordinator's error."""
        membership = self._membership()
        if isinstance(offsets, Mapping):
            offsets = [TopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()]
        wanted = self.group.commit_offsets(None, offsets)
        await membership.commit(wanted)
        self.group.note_committed(wanted)

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of ``partition`` (None when none), as aiokafka."""
        tp = check_partition(partition)
        found = await self._membership().fetch_committed([(tp.topic, tp.partition)])
        return found.get((tp.topic, tp.partition))

    async def _before_poll(self) -> None:
        """At every poll boundary (see :meth:`GroupSide.poll_actions`)."""
        group = self.group
        if (
            group.membership is not None
            and group.mode == Mode.SUBSCRIBE
            and group.poll_due(self._clock.monotonic())
        ):
            await actions.run_async(group.poll_actions(), self._execute)

    async def _execute(self, action: actions.Action) -> Any:
        """One action of :mod:`logd.client.consumer.actions`, on the consumer's loop."""
        if isinstance(action, actions.CommitNow):
            return await self.group.grouped.commit(action.offsets)
        if isinstance(action, actions.Invoke):
            result = action.callback(self, action.partitions)
            return await result if inspect.isawaitable(result) else result
        if isinstance(action, actions.WakeFetcher):
            return self.core.fetcher.wakeup()
        task = asyncio.get_running_loop().create_task(
            self.group.commit_in_background(action.offsets)
        )
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
        return None

    # -- closing ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Leave the group (after committing, with auto-commit, and ``on_revoke``; a static
        member does not leave) and release the connections."""
        group = self._group
        if self._core is not None and group is not None and group.mode == Mode.SUBSCRIBE:
            await actions.run_async(group.give_up_actions(), self._execute)
        for task in list(self._commits):
            await asyncio.gather(task, return_exceptions=True)
        core, self._core = self._core, None
        self._reader.drop()
        if core is not None:
            await core.close()
        self._buffer.clear()

    close = stop

    async def __aenter__(self) -> AsyncConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
