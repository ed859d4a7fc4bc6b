"""The I/O shell of a consumer's membership: two asyncio tasks that execute what the
:class:`~logd.client.group.machine.MemberMachine` asks for, and nothing else.

* the **rebalance task** takes the machine's next step and executes it -- hands partitions
  to the application or takes them back through the :class:`EventChannel` (the
  application serves them inside ``poll()``), sends JoinGroup/SyncGroup to the coordinator,
  looks up partition counts, fetches committed offsets -- and feeds the outcome back; with
  no step due it sleeps until woken or until the next metadata check;
* the **heartbeat task** asks the machine every ``heartbeat_interval_ms`` whether to
  heartbeat (or, when the application stopped polling for ``max_poll_interval_ms``, to
  leave the group) and feeds the answer back.

Commits and offset fetches of the application go through here as well (one commit at a
time, so they land in the order made). Every decision -- what to send, what an answer
means, when to rejoin, back off or give up -- is the machine's; this module turns its
:class:`~logd.client.group.machine.Effect` values into wake-ups, sleeps and calls, and its
requests into protobufs (:mod:`~logd.client.group.codec`).

Owned by the client's event loop; not thread-safe, except :meth:`note_poll`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from logd.client.config import ConsumerConfig
from logd.client.group import codec
from logd.client.group.events import EventChannel
from logd.client.group.link import CoordinatorLink
from logd.client.group.machine import MemberMachine
from logd.client.group.member_state import MemberState
from logd.client.group.steps import (
    AppStep,
    Effect,
    FetchCommitted,
    LeaveForPollTimeout,
    LookUpPartitions,
    SendJoin,
    SendSync,
    Step,
)
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.types import PartitionKey
from logd.clock import Clock
from logd.errors import LogdError
from logd.groups.messages import LeaveGroupRequest

__all__ = ["GroupMembership", "RoundAbortedError"]

_log = logging.getLogger(__name__)

_POLL_TIMED_OUT = MemberState.POLL_TIMED_OUT  # read at every poll: one lookup less

#: Beyond the rebalance timeout, how long a JoinGroup/SyncGroup may take (Kafka adds 5 s).
_JOIN_SLACK_MS = 5_000


class RoundAbortedError(Exception):
    """A step the application had not served belongs to a round given up meanwhile (the
    member left the group while the application was not polling, or unsubscribed)."""


class GroupMembership:
    """One consumer's membership. See the module docstring. Loop-owned."""

    def __init__(
        self,
        config: ConsumerConfig,
        pool: ConnectionPool,
        metadata: Metadata,
        clock: Clock,
        channel: EventChannel,
    ) -> None:
        assert config.group_id
        self.config = config
        self.group_id = config.group_id
        self.machine = MemberMachine(config)
        self.link = CoordinatorLink(pool, self.group_id, config, clock)
        self._metadata = metadata
        self._clock = clock
        self.channel = channel
        self._loop = asyncio.get_running_loop()
        self.last_poll = clock.monotonic()
        #: True while the application is inside poll() (waiting for records counts as polling).
        self.polling = False
        self._wake = asyncio.Event()
        self._heartbeat_now = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the application and tests read -------------------------------------------------

    @property
    def member_id(self) -> str:
        return self.machine.member_id

    @property
    def fatal(self) -> LogdError | None:
        return self.machine.fatal

    @property
    def rebalances(self) -> int:
        """Completed rebalances (generations installed)."""
        return self.machine.rebalances

    @property
    def stable(self) -> bool:
        """Member of a generation with nothing pending (tests wait for this)."""
        return self.machine.state is MemberState.STABLE and not self.channel.pending

    # -- the application's requests ---------------------------------------------------------

    def subscribe(self, topics: Iterable[str], matcher: Callable[[str], bool] | None) -> None:
        """Subscribe to ``topics``, or to every topic ``matcher`` accepts (refreshed every
        ``metadata_max_age_ms``); joins the group on the first call."""
        self._apply(self.machine.subscribe(topics, matcher))
        if not self._tasks:
            self._tasks = [
                self._loop.create_task(self._run(), name=f"logd-group-{self.group_id}"),
                self._loop.create_task(self._heartbeats(), name="logd-group-heartbeat"),
            ]

    async def unsubscribe(self) -> None:
        """Leave the group (the application has given its partitions up already)."""
        leave = self.machine.leave_request()
        self._apply(self.machine.unsubscribe())
        await self._leave(leave, "the consumer unsubscribed")

    def note_poll(self, now: float) -> None:
        """The application polled at ``now`` (its clock's monotonic time; any thread):
        ``max_poll_interval_ms`` starts again."""
        self.last_poll = now
        if self.machine.state is _POLL_TIMED_OUT:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._poll_resumed)

    @contextlib.contextmanager
    def inside_poll(self) -> Iterator[None]:
        """The application waits for records inside poll(): that is polling, as far as
        ``max_poll_interval_ms`` is concerned (any thread)."""
        self.polling = True
        try:
            yield
        finally:
            self.polling = False
            self.note_poll(self._clock.monotonic())

    def _poll_resumed(self) -> None:
        self._apply(self.machine.poll_resumed())

    def request_rejoin(self) -> None:
        self._apply(self.machine.request_rejoin())

    def _apply(self, effects: Effect) -> None:
        """Everything an input asks for, beside a backoff (the rebalance task's own)."""
        if Effect.FORGET_COORDINATOR in effects:
            self.link.mark_dead()
        if Effect.WAKE in effects:
            self._wake.set()
        if Effect.HEARTBEAT_NOW in effects:
            self._heartbeat_now.set()
        if Effect.NOTIFY in effects:
            self.channel.notify()
        if Effect.VOID in effects:
            for event in self.channel.clear():
                if not event.done.done():
                    event.done.set_exception(RoundAbortedError())
                    event.done.exception()  # retrieved here: the round may already be gone

    # -- the rebalance task ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._check_metadata()
                step = self.machine.next_step()
                if step is None:
                    await self._sleep(self._idle_s())
                    continue
                effects = await self._execute(step)
            except asyncio.CancelledError:
                raise
            except RoundAbortedError:
                continue
            except Exception:  # a bug must not end membership silently: log, retry the step
                _log.exception("group %s: rebalance failed", self.group_id)
                await self._sleep(self.config.retry_backoff_max_ms / 1000.0)
                continue
            self._apply(effects)
            if Effect.BACK_OFF in effects:
                await self._sleep(self.config.retry_backoff_ms / 1000.0)

    def _idle_s(self) -> float | None:
        at = self.machine.next_check_at()
        return None if at is None else max(at - self._clock.monotonic(), 0.0)

    async def _sleep(self, seconds: float | None) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns normally when the
        # awaited event is set in the same loop turn as a cancel() of the caller, and the
        # cancel is lost -- a consumer task cancelled while records arrive kept running.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _execute(self, step: Step) -> Effect:
        machine = self.machine
        try:
            if isinstance(step, AppStep):
                await self.channel.put(step.kind, list(step.partitions)).done
                return machine.served(step)
            if isinstance(step, SendJoin):
                answer = await self._round_trip("JoinGroup", codec.join_request(step.request))
                return machine.on_join(step, codec.join_response(answer))
            if isinstance(step, LookUpPartitions):
                counts = await self._partition_counts(step.topics)
                return machine.on_partitions(step, counts, self._clock.monotonic())
            if isinstance(step, SendSync):
                answer = await self._round_trip("SyncGroup", codec.sync_request(step.request))
                return machine.on_sync(step, codec.sync_response(answer))
            assert isinstance(step, FetchCommitted), step
            return machine.on_committed(step, await self.fetch_committed(step.partitions))
        except LogdError as exc:
            return machine.on_failure(step, exc)

    async def _round_trip(self, method: str, request: Any) -> Any:
        """A JoinGroup or SyncGroup: the coordinator may park it up to the rebalance timeout."""
        timeout_s = (self.config.max_poll_interval_ms + _JOIN_SLACK_MS) / 1000.0
        return await self.link.call(method, request, timeout_s)

    async def _partition_counts(self, topics: Iterable[str]) -> dict[str, int]:
        wanted = set(topics)
        if not wanted:
            return {}
        await self._metadata.refresh(wanted)
        known = self._metadata.cache.topics
        return {t: len(known[t].partitions) for t in sorted(wanted) if t in known}

    async def _check_metadata(self) -> None:
        """The metadata check the machine wants now, if any (a failed one is logged and
        tried again after a backoff)."""
        check = self.machine.metadata_check(self._clock.monotonic())
        if check is None:
            return
        try:
            if check.topic_names:
                md = await self._metadata.fetch(None)
                names = [n for n, tm in md.topics.items() if tm.error is None and not tm.internal]
                self._apply(self.machine.on_topic_names(names))
            if check.counts_of:
                counts = await self._partition_counts(check.counts_of)
                self._apply(self.machine.on_partition_counts(counts))
        except LogdError as exc:
            _log.debug("group %s: metadata check failed: %s", self.group_id, exc)
            self.machine.metadata_check_failed(self._clock.monotonic())

    # -- the heartbeat task ----------------------------------------------------------------

    async def _heartbeats(self) -> None:
        interval = self.config.heartbeat_interval_ms / 1000.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._heartbeat_now.wait()
            self._heartbeat_now.clear()
            idle_s = 0.0 if self.polling else self._clock.monotonic() - self.last_poll
            due = self.machine.heartbeat(idle_s)
            if isinstance(due, LeaveForPollTimeout):
                _log.warning(
                    "group %s: poll() not called for %.1f s (max_poll_interval_ms): leaving "
                    "the group", self.group_id, due.idle_s,
                )  # fmt: skip
                self._apply(due.effects)
                await self._leave(due.leave, "consumer poll timeout has expired")
            elif due is not None:
                try:
                    answer = await self.link.call("Heartbeat", codec.heartbeat_request(due))
                except LogdError as exc:  # transport: the link forgot the coordinator
                    _log.debug("group %s: heartbeat failed: %s", self.group_id, exc)
                    continue
                self._apply(self.machine.on_heartbeat(due, codec.heartbeat_response(answer)))

    # -- offsets ---------------------------------------------------------------------------

    async def commit(self, offsets: Mapping[PartitionKey, int]) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) as this member's
        generation, or as a standalone consumer when it has none; raises the first error."""
        if not offsets:
            return
        async with self._commit_lock:  # one at a time, so commits land in the order made
            made = self.machine.commit_request(offsets)
            request = codec.commit_request(made)
            answer = await self.link.call_retrying("OffsetCommit", request, codec.commit_error)
            error = codec.commit_error(answer)
        if error is not None:
            self._apply(self.machine.on_commit_error(made, error))
            raise error

    async def fetch_committed(self, partitions: Iterable[PartitionKey]) -> dict[PartitionKey, int]:
        """The committed offsets of ``partitions`` (those with none are left out)."""
        wanted = sorted(partitions)
        if not wanted:
            return {}
        answer = await self.link.call_retrying(
            "OffsetFetch", codec.fetch_request(self.group_id, wanted), codec.fetch_error
        )
        return codec.fetch_response(answer)

    # -- leaving ---------------------------------------------------------------------------

    async def _leave(self, request: LeaveGroupRequest | None, reason: str) -> None:
        if request is None:
            return
        timeout = min(self.config.request_timeout_ms, 5_000) / 1000.0
        try:
            await self.link.call("LeaveGroup", codec.leave_request(request, reason), timeout)
        except LogdError as exc:
            _log.debug("group %s: leave failed: %s", self.group_id, exc)

    async def close(self) -> None:
        """Stop both tasks and leave the group (not a static member: see
        :meth:`MemberMachine.leave_request`)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.machine.state is not MemberState.UNSUBSCRIBED:
            await self._leave(self.machine.leave_request(), "the consumer is closing")
        for event in self.channel.clear():
            event.done.cancel()
