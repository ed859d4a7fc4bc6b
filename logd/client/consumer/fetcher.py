"""The fetcher: one long-poll ``FetchStream`` call per partition leader, kept open.

One task on the client's event loop. Each round it resolves pending offset resets
(ListOffsets: earliest, latest, by time), groups the fetchable partitions by leader, and
for every leader without a stream opens one (``fetch_max_wait_ms``, ``fetch_min_bytes``,
``fetch_max_bytes``, ``max_partition_fetch_bytes`` per partition). The broker answers as a
``Fetch`` would, then goes on by itself from where each partition's answer ended
(logd/frontends/grpc/fetch_stream.py), so a record committed while an answer travels is
sent at once instead of waiting for the next request (issue 22). A stream whose partitions
or their seek epochs no longer match what should be fetched (assignment, pause, seek) is
cancelled and replaced; one whose answer no longer continues where a partition stands (an
error, a partial batch) ends, and the next round opens another. While the application works
through one answer the next ones keep coming: that is the prefetch, bounded by the
:class:`FetchBuffer`'s byte limit -- a full buffer stops the stream's reading, and HTTP/2
flow control the broker.

An answer's bytes are cut into whole batches (``split_batches``: a partial batch at the end
is left for the next answer, which starts at the first offset not fetched whole) and handed
to the buffer undecoded. A partition whose answer held only a partial batch -- one batch
larger than its ``max_bytes`` -- is asked again with twice the bytes, up to
``fetch_max_bytes``.

Errors per partition: OFFSET_OUT_OF_RANGE applies ``auto_offset_reset`` (or, for
"error", queues :class:`OffsetOutOfRangeError` naming the valid range for ``poll()`` and
stops fetching that partition until a seek); NOT_LEADER_OR_FOLLOWER and friends re-fetch
metadata and retry after ``retry_backoff_ms``; transport errors back off the same way.

Owned by the client's event loop; not thread-safe (the subscription and buffer it uses
are).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from logd.client.config import ConsumerConfig
from logd.client.consumer.fetch_buffer import CompletedFetch, FetchBuffer
from logd.client.consumer.subscription import (
    RESET_EARLIEST,
    RESET_ERROR,
    RESET_LATEST,
    PartitionState,
    SubscriptionState,
)
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.offsets import SPEC_EARLIEST, SPEC_LATEST, list_offsets
from logd.client.transport.rpc import error_from_proto
from logd.clock import Clock
from logd.errors import (
    FencedLeaderEpochError,
    LeaderNotAvailableError,
    LogdError,
    NotLeaderOrFollowerError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from logd.records.header import parse_header
from logd.records.reader import split_batches
from logd.v1 import broker_pb2

__all__ = ["Fetcher"]

_log = logging.getLogger(__name__)

_LEADER_MOVED = (
    NotLeaderOrFollowerError,
    LeaderNotAvailableError,
    UnknownTopicOrPartitionError,
    FencedLeaderEpochError,
)


class Fetcher:
    """Fetches assigned partitions into a FetchBuffer. Owned by the client's event loop."""

    def __init__(
        self,
        config: ConsumerConfig,
        pool: ConnectionPool,
        metadata: Metadata,
        subscription: SubscriptionState,
        buffer: FetchBuffer,
        clock: Clock,
    ) -> None:
        self._config = config
        self._pool = pool
        self._metadata = metadata
        self._subs = subscription
        self._buffer = buffer
        self._clock = clock
        self._wake = asyncio.Event()
        #: address -> its FetchStream task and what it fetches (partitions and their epochs).
        self._in_flight: dict[str, tuple[asyncio.Task[None], frozenset[Any]]] = {}
        #: Set when the buffer may have room again (a stream waits on it while full).
        self._room = asyncio.Event()
        #: FetchStream calls opened (tests and metrics: one per broker in a steady state).
        self.streams_opened = 0
        self._backoff_until: dict[str, float] = {}
        self._max_bytes: dict[tuple[str, int], int] = {}
        self._reset_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="logd-consumer-fetcher")

    def wakeup(self) -> None:
        """Look again (assignment changed, a seek, buffer room). Event loop only."""
        self._wake.set()
        self._room.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            delay = self._round(self._clock.monotonic())
            handle = loop.call_later(delay, self._wake.set) if delay is not None else None
            await self._wake.wait()
            if handle is not None:
                handle.cancel()

    def _round(self, now: float) -> float | None:
        """Start what can start; returns seconds until a backoff ends (None: none)."""
        if self._subs.needs_reset() and self._reset_task is None:
            self._reset_task = asyncio.create_task(self._reset())
        if self._buffer.full:
            return None
        by_leader: dict[str, list[PartitionState]] = {}
        missing = False
        for state in self._subs.fetchable():
            address = self._metadata.cache.leader_address(state.topic, state.partition)
            if address is None:
                missing = True
            else:
                by_leader.setdefault(address, []).append(state)
        if missing:
            self._refresh()
        wait: float | None = None
        for address in [a for a in self._in_flight if a not in by_leader]:
            self._in_flight.pop(address)[0].cancel()  # nothing to fetch there any more
        for address, states in by_leader.items():
            asked = {(s.topic, s.partition): (s, s.epoch, s.fetch_offset) for s in states}
            running = self._in_flight.get(address)
            if running is not None:
                if running[1] == _shape(asked):
                    continue
                # An assignment, a pause or a seek changed what this stream fetches.
                self._in_flight.pop(address)[0].cancel()
            until = self._backoff_until.get(address, 0.0)
            if until > now:
                wait = until - now if wait is None else min(wait, until - now)
                continue
            # What is asked is fixed now, so a seek from here on is seen as newer.
            task = asyncio.create_task(self._fetch(address, self._request(states), asked))
            self._in_flight[address] = (task, _shape(asked))
        return wait

    def _request(self, states: list[PartitionState]) -> Any:
        cfg = self._config
        return broker_pb2.FetchRequest(
            max_wait_ms=cfg.fetch_max_wait_ms,
            min_bytes=cfg.fetch_min_bytes,
            max_bytes=cfg.fetch_max_bytes,
            partitions=[
                broker_pb2.FetchPartition(
                    topic=s.topic,
                    partition=s.partition,
                    offset=s.fetch_offset,
                    max_bytes=self._max_bytes.get(
                        (s.topic, s.partition), cfg.max_partition_fetch_bytes
                    ),
                )
                for s in states
            ],
        )

    async def _fetch(
        self,
        address: str,
        request: Any,
        asked: dict[tuple[str, int], tuple[PartitionState, int, int]],
    ) -> None:
        """One ``FetchStream`` call: answers until the broker ends it, an answer no longer
        fits what is asked (a seek, an error, a partial batch), or :meth:`_round` cancels
        it. While the buffer is full it stops reading: HTTP/2 stops the broker."""
        cfg = self._config
        conn = self._pool.get(address)
        timeout_s = (cfg.request_timeout_ms + cfg.fetch_max_wait_ms) / 1000.0
        call = conn.open_stream(conn.broker.FetchStream, request)
        self.streams_opened += 1
        try:
            while True:
                while self._buffer.full:
                    self._room.clear()
                    await self._room.wait()
                resp: Any = await conn.read_stream(call, timeout_s)
                if resp is None:  # the broker ended it (it drains): look elsewhere, later
                    self._back_off(address)
                    self._refresh()
                    break
                if not self._take_all(address, resp, asked):
                    break
        except LogdError as exc:
            _log.debug("fetch from %s failed: %s", address, exc)
            self._back_off(address)
            if not exc.retriable:
                for state, epoch, _ in asked.values():
                    self._buffer.put(CompletedFetch(state, epoch, [], 0, exc))
            self._refresh()
        finally:
            call.cancel()
            running = self._in_flight.get(address)
            if running is not None and running[0] is asyncio.current_task():
                del self._in_flight[address]
            self.wakeup()

    def _take_all(
        self, address: str, resp: Any, asked: dict[tuple[str, int], tuple[PartitionState, int, int]]
    ) -> bool:
        """Take one answer of the stream; False when the stream no longer fetches what the
        partitions need (it went on from elsewhere than their fetch offsets)."""
        keep = True
        for pd in resp.partitions:
            key = (pd.topic, pd.partition)
            entry = asked.get(key)
            if entry is None:
                continue
            state, epoch, offset = entry
            current = self._subs.partitions.get(key) is state and state.epoch == epoch
            if not current or state.fetch_offset != offset:
                keep = False  # reassigned or sought: _round opens a stream that fits
                continue
            self._take(address, pd, state, epoch, offset)
            if pd.error.code or state.fetch_offset < 0:
                keep = False  # the broker ends the stream after an error; so do we
            elif pd.records and state.fetch_offset == offset:
                keep = False  # a partial batch only: ask again with more bytes
            else:
                asked[key] = (state, epoch, state.fetch_offset)
        return keep

    def _take(self, address: str, pd: Any, state: PartitionState, epoch: int, offset: int) -> None:
        """One partition of an answer (still current: same state object and epoch)."""
        if self._subs.partitions.get((state.topic, state.partition)) is not state:
            return
        if state.epoch != epoch or state.fetch_offset != offset:
            return  # a seek since the request: drop what it fetched
        err = error_from_proto(pd.error)
        if err is not None:
            self._partition_error(address, state, epoch, pd, err)
            return
        state.high_watermark = pd.high_watermark
        state.log_start_offset = pd.log_start_offset
        records = pd.records
        if not records:
            return
        split = split_batches(records)
        key = (state.topic, state.partition)
        if not split.batches:
            # One batch larger than max_bytes: ask for more next time (Kafka's KIP-74).
            current = self._max_bytes.get(key, self._config.max_partition_fetch_bytes)
            self._max_bytes[key] = min(current * 2, max(self._config.fetch_max_bytes, current))
            return
        self._max_bytes.pop(key, None)
        last = parse_header(split.batches[-1])
        state.fetch_offset = max(state.fetch_offset, last.next_offset)
        self._buffer.put(CompletedFetch(state, epoch, split.batches, len(records)))

    def _partition_error(
        self, address: str, state: PartitionState, epoch: int, pd: Any, err: LogdError
    ) -> None:
        if isinstance(err, OffsetOutOfRangeError):
            policy = self._subs.default_reset
            if policy is None:
                state.fetch_offset = -1  # stop fetching it until the application seeks
                task = asyncio.create_task(
                    self._out_of_range(state, epoch, pd.log_start_offset, pd.high_watermark)
                )
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)
            else:
                state.reset = policy
                state.fetch_offset = -1
            return
        if err.retriable:
            if isinstance(err, _LEADER_MOVED):
                self._metadata.cache.forget_leader(state.topic, state.partition)
            self._refresh()
            self._back_off(address)
            return
        state.fetch_offset = -1
        self._buffer.put(CompletedFetch(state, epoch, [], 0, err))

    async def _out_of_range(self, state: PartitionState, epoch: int, low: int, high: int) -> None:
        """Queue OffsetOutOfRangeError naming the valid range (looked up if not given)."""
        if low < 0 or high < 0:
            key = (state.topic, state.partition)
            try:
                low = (await self._list([(*key, SPEC_EARLIEST, 0)]))[key][0]
                high = (await self._list([(*key, SPEC_LATEST, 0)]))[key][0]
            except LogdError as exc:
                _log.debug("looking up the valid range failed: %s", exc)
        where = f"{state.topic}/{state.partition}"
        valid = f": valid offsets are {low}..{high}" if low >= 0 and high >= 0 else ""
        error = OffsetOutOfRangeError(f"offset {state.position} is out of range for {where}{valid}")
        self._buffer.put(CompletedFetch(state, epoch, [], 0, error))

    async def _list(
        self, asks: list[tuple[str, int, int, int]]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        return await list_offsets(
            self._pool,
            self._metadata,
            self._clock,
            asks,
            timeout_ms=self._config.request_timeout_ms,
            backoff_ms=self._config.retry_backoff_ms,
        )

    def _back_off(self, address: str) -> None:
        self._backoff_until[address] = (
            self._clock.monotonic() + self._config.retry_backoff_ms / 1000.0
        )

    def _refresh(self) -> None:
        if self._refresh_task is None:
            self._refresh_task = asyncio.create_task(self._refresh_metadata())

    async def _refresh_metadata(self) -> None:
        try:
            await asyncio.sleep(self._config.retry_backoff_ms / 1000.0)
            await self._metadata.refresh({s.topic for s in self._subs.partitions.values()})
            self._check_exists()
        except LogdError as exc:
            _log.debug("metadata refresh failed: %s", exc)
        finally:
            self._refresh_task = None
            self.wakeup()

    def _check_exists(self) -> None:
        """Assigned partitions the cluster does not have: an error for the application."""
        topics = self._metadata.cache.topics
        for state in list(self._subs.partitions.values()):
            tm = topics.get(state.topic)
            if tm is not None and state.partition < len(tm.partitions):
                continue
            what = "topic" if tm is None else f"partition {state.partition} of topic"
            name = state.topic
            state.fetch_offset = -1
            state.reset = None
            self._buffer.put(
                CompletedFetch(
                    state,
                    state.epoch,
                    [],
                    0,
                    UnknownTopicOrPartitionError(f"unknown {what} {name!r}"),
                )
            )

    async def _reset(self) -> None:
        try:
            await self.reset_positions(self._subs.needs_reset())
        except LogdError as exc:
            _log.debug("offset reset failed: %s", exc)
            if isinstance(exc, UnknownTopicOrPartitionError):
                self._check_exists()
            await asyncio.sleep(self._config.retry_backoff_ms / 1000.0)
        finally:
            self._reset_task = None
            self.wakeup()

    async def reset_positions(self, states: list[PartitionState]) -> None:
        """Resolve pending resets with ListOffsets; errors for "error" go to the buffer."""
        asks: list[tuple[str, int, int, int]] = []
        for s in states:
            if s.reset == RESET_ERROR:
                s.reset = None
                self._buffer.put(
                    CompletedFetch(
                        s,
                        s.epoch,
                        [],
                        0,
                        OffsetOutOfRangeError(
                            f"no offset to start {s.topic}/{s.partition} from and "
                            f"auto.offset.reset is 'error': seek or assign with an offset"
                        ),
                    )
                )
            elif s.reset is not None:
                assert s.reset in (RESET_EARLIEST, RESET_LATEST), s.reset
                spec = SPEC_EARLIEST if s.reset == RESET_EARLIEST else SPEC_LATEST
                asks.append((s.topic, s.partition, spec, 0))
        if not asks:
            return
        epochs = {(s.topic, s.partition): s.epoch for s in states}
        found = await self._list(asks)
        with self._subs.lock:
            for key, (offset, _) in found.items():
                state = self._subs.partitions.get(key)
                if state is None or state.epoch != epochs.get(key) or state.reset is None:
                    continue  # reassigned or sought meanwhile
                state.position = state.fetch_offset = max(offset, 0)
                state.reset = None

    async def close(self) -> None:
        tasks = [
            self._task,
            self._reset_task,
            self._refresh_task,
            *(task for task, _ in self._in_flight.values()),
            *self._side_tasks,
        ]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _shape(asked: dict[tuple[str, int], tuple[PartitionState, int, int]]) -> frozenset[Any]:
    """What a stream fetches, as far as the need for a new one goes: the partitions and
    their seek epochs (a stream moves its own offsets; a seek bumps the epoch)."""
    return frozenset((key, epoch) for key, (_, epoch, _) in asked.items())
