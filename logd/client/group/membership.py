"""A consumer's membership of its group: join, sync, heartbeat, leave, commit, fetch offsets.

Kafka's ``AbstractCoordinator`` + ``ConsumerCoordinator`` as two asyncio tasks:

* the **rebalance task** joins when it must -- first subscription, a heartbeat answered
  REBALANCE_IN_PROGRESS, a changed subscription (a new topic matching the pattern), the
  leader seeing partitions added, a cooperative follow-up round, membership lost --
  and otherwise sleeps until woken or until the next metadata check is due. A round: find
  the coordinator; hand partitions back first when the group's protocol is eager (or drop
  them when membership was lost); JoinGroup (again with the member id it is given, KIP-394);
  the leader computes everyone's assignment (:mod:`group_assign`); SyncGroup; then revoke
  what was taken away and assign what was added -- through the application
  (:mod:`group_events`). Under the cooperative protocol a revocation is followed by another
  round, which hands the partitions to their new owners (KIP-429).
* the **heartbeat task** sends a Heartbeat every ``heartbeat_interval_ms`` while the member
  has a generation and no JoinGroup/SyncGroup is in flight; it also enforces
  ``max_poll_interval_ms``: a consumer whose application stopped polling leaves the group
  (a static member just stops heartbeating, as in Kafka) and rejoins when it polls again.

Errors, as Kafka's clients treat them: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
transport failures send the member back to FindCoordinator; UNKNOWN_MEMBER_ID and
ILLEGAL_GENERATION mean the group moved on without us: the partitions are lost (``on_lost``,
no commit) and the member rejoins; FENCED_INSTANCE_ID (another process took our
``group_instance_id``), INCONSISTENT_GROUP_PROTOCOL and INVALID_SESSION_TIMEOUT are fatal:
:attr:`GroupMembership.fatal` is raised by the application's next poll.

Owned by the client's event loop; not thread-safe, except :meth:`note_poll`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from logd.client.config import ConsumerConfig
from logd.client.consumer.subscription import OFFSET_STORED
from logd.client.group.assign import (
    GroupMember,
    assigned_partitions,
    compute_assignment,
    group_topics,
    is_cooperative,
    subscription_protocols,
)
from logd.client.group.events import EventChannel, EventKind
from logd.client.group.link import COORDINATOR_MOVED, CoordinatorLink
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.rpc import error_from_proto
from logd.client.types import TopicPartition
from logd.clock import Clock
from logd.errors import (
    CoordinatorLoadInProgressError,
    FencedInstanceIdError,
    IllegalGenerationError,
    LogdError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from logd.v1 import common_pb2, group_pb2
from partitioning import PROTOCOL_TYPE, ProtocolDecodeError

__all__ = ["GroupMembership"]

_log = logging.getLogger(__name__)


class _RoundAborted(Exception):
    """The rebalance round waiting on the application is void (the member left the group
    while the application was not polling)."""


Tp = tuple[str, int]
#: Beyond the rebalance timeout, how long a JoinGroup/SyncGroup may take (Kafka adds 5 s).
_JOIN_SLACK_MS = 5_000


def _tps(partitions: Iterable[Tp], offsets: Mapping[Tp, int] | None = None) -> list[TopicPartition]:
    if offsets is None:
        return [TopicPartition(t, p) for t, p in sorted(partitions)]
    return [TopicPartition(t, p, offsets.get((t, p), OFFSET_STORED)) for t, p in sorted(partitions)]


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
        self.instance_id = config.group_instance_id
        self.link = CoordinatorLink(pool, self.group_id, config, clock)
        self._metadata = metadata
        self._clock = clock
        self.channel = channel
        self._loop = asyncio.get_running_loop()
        # What the coordinator told us.
        self.member_id = ""
        self.generation = -1
        self.protocol = ""
        self.leader_id = ""
        #: Partitions this member owns (the application reads exactly these).
        self.owned: set[Tp] = set()
        # What we subscribe to.
        self.subscribed = False
        self.topics: frozenset[str] = frozenset()
        self._matcher: Callable[[str], bool] | None = None
        # The leader's view of what it assigned, to notice partitions being added.
        self._group_topics: set[str] = set()
        self._counts: dict[str, int] = {}
        self._next_metadata_check = 0.0
        # State of the protocol.
        self._rejoin = False
        self._lost = False
        self._in_rebalance = False
        self._poll_timed_out = False
        self.fatal: LogdError | None = None
        self.last_poll = clock.monotonic()
        #: True while the application is inside poll() (waiting for records counts as polling).
        self.polling = False
        #: Completed rebalances (generations installed), for tests and tools.
        self.rebalances = 0
        self._wake = asyncio.Event()
        self._heartbeat_now = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the application's requests ---------------------------------------------------------

    def subscribe(self, topics: Iterable[str], matcher: Callable[[str], bool] | None) -> None:
        """Subscribe to ``topics``, or to every topic ``matcher`` accepts (refreshed every
        ``metadata_max_age_ms``); joins the group on the first call."""
        wanted = frozenset(topics) if matcher is None else frozenset()
        changed = not self.subscribed or matcher is not None or wanted != self.topics
        self._matcher = matcher
        self.topics = wanted
        self.subscribed = True
        self._next_metadata_check = 0.0
        if changed:
            self.request_rejoin()
        if not self._tasks:
            self._tasks = [
                self._loop.create_task(self._run(), name=f"logd-group-{self.group_id}"),
                self._loop.create_task(self._heartbeats(), name="logd-group-heartbeat"),
            ]

    async def unsubscribe(self) -> None:
        """Leave the group (the application has given its partitions up already)."""
        self.subscribed = False
        self.owned.clear()
        self._lost = False
        await self._leave("the consumer unsubscribed")
        self._reset(keep_member=False)

    def note_poll(self, now: float) -> None:
        """The application polled at ``now`` (its clock's monotonic time; any thread):
        ``max_poll_interval_ms`` starts again."""
        self.last_poll = now
        if self._poll_timed_out:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._poll_resumed)

    def request_rejoin(self) -> None:
        self._rejoin = True
        self._wake.set()

    @property
    def is_leader(self) -> bool:
        return bool(self.member_id) and self.leader_id == self.member_id

    @property
    def stable(self) -> bool:
        """Member of a generation with nothing pending (tests wait for this)."""
        return self.generation >= 0 and not self._rejoin and not self.channel.pending

    # -- the rebalance task ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if self.fatal is None and self._wants_join():
                    await self._rebalance()
                else:
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except _RoundAborted:
                continue
            except LogdError as exc:
                self._rejoin = True
                if not exc.retriable:
                    self._fail(exc)
                    continue
                _log.debug("group %s: %s; retrying", self.group_id, exc)
                await self._sleep(self.config.retry_backoff_ms / 1000.0)
            except Exception:  # a bug must not end membership silently: log, retry
                _log.exception("group %s: rebalance failed", self.group_id)
                self._rejoin = True
                await self._sleep(self.config.retry_backoff_max_ms / 1000.0)

    def _wants_join(self) -> bool:
        return (
            self.subscribed and not self._poll_timed_out and (self._rejoin or self.generation < 0)
        )

    async def _idle(self) -> None:
        delay: float | None = None
        if self.subscribed and (self._matcher is not None or self.is_leader):
            delay = max(self._next_metadata_check - self._clock.monotonic(), 0.0)
            if delay == 0.0:
                try:
                    await self._check_metadata()
                except LogdError as exc:  # tried again one metadata_max_age_ms later
                    _log.debug("group %s: metadata check failed: %s", self.group_id, exc)
                return
        await self._sleep(delay)

    async def _sleep(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _rebalance(self) -> None:
        await self.link.find()
        if self._matcher is not None and self._clock.monotonic() >= self._next_metadata_check:
            await self._check_metadata()
        if self._lost:
            await self._give_up(EventKind.LOST, set(self.owned))
            self._lost = False
        elif self.owned and not is_cooperative(self.protocol):
            await self._give_up(EventKind.REVOKE, set(self.owned))
        join = await self._join()
        if join is None:
            return
        assignment = await self._sync(join)
        if assignment is not None:
            await self._install(assignment)

    async def _give_up(self, kind: EventKind, partitions: set[Tp]) -> None:
        if partitions:
            await self.channel.put(kind, _tps(partitions)).done
        self.owned -= partitions

    def _call_timeout_s(self) -> float:
        return (self.config.max_poll_interval_ms + _JOIN_SLACK_MS) / 1000.0

    async def _join(self) -> Any | None:
        """JoinGroup; the answer, or None when the round must start again at once."""
        cfg = self.config
        protocols = subscription_protocols(
            cfg.partition_assignment_strategy, self.topics, self.owned, self.generation
        )
        request = group_pb2.JoinGroupRequest(
            group_id=self.group_id,
            session_timeout_ms=cfg.session_timeout_ms,
            rebalance_timeout_ms=cfg.max_poll_interval_ms,
            member_id=self.member_id,
            group_instance_id=self.instance_id or "",
            protocol_type=PROTOCOL_TYPE,
            protocols=[group_pb2.JoinGroupProtocol(name=n, metadata=m) for n, m in protocols],
            client_id=cfg.client_id,
        )
        self._rejoin = False  # a REBALANCE_IN_PROGRESS heard from now on needs another round
        resp = await self._round_trip("JoinGroup", request)
        error = error_from_proto(resp.error)
        if error is None:
            self.member_id = resp.member_id
            self.generation = resp.generation_id
            self.protocol = resp.protocol_name
            self.leader_id = resp.leader_id
            return resp
        if isinstance(error, MemberIdRequiredError):
            self.member_id = resp.member_id  # KIP-394: join again with it, now
        elif not self._handle_round_error(error):
            raise error
        self._rejoin = True
        return None

    async def _sync(self, join: Any) -> bytes | None:
        assignments: dict[str, bytes] = {}
        if self.is_leader:
            assignments = await self._assign(join)
        request = group_pb2.SyncGroupRequest(
            group_id=self.group_id,
            generation_id=self.generation,
            member_id=self.member_id,
            group_instance_id=self.instance_id or "",
            protocol_type=PROTOCOL_TYPE,
            protocol_name=self.protocol,
            assignments=[
                group_pb2.SyncGroupAssignment(member_id=m, assignment=a)
                for m, a in assignments.items()
            ],
        )
        resp = await self._round_trip("SyncGroup", request)
        error = error_from_proto(resp.error)
        if error is None:
            data: bytes = resp.assignment
            return data
        if not self._handle_round_error(error):
            raise error
        self._rejoin = True
        return None

    async def _round_trip(self, method: str, request: Any) -> Any:
        """A JoinGroup or SyncGroup: no heartbeats meanwhile (the coordinator holds the
        member's session while it parks the request)."""
        self._in_rebalance = True
        try:
            return await self.link.call(method, request, self._call_timeout_s())
        except BaseException:
            self._rejoin = True
            raise
        finally:
            self._in_rebalance = False

    def _handle_round_error(self, error: LogdError) -> bool:
        """React to a JoinGroup/SyncGroup error; False when it is fatal (or retried by the
        caller after a backoff: it is raised)."""
        if isinstance(error, RebalanceInProgressError):
            return True
        if isinstance(error, UnknownMemberIdError):
            self._reset(keep_member=False)
            return True
        if isinstance(error, IllegalGenerationError):
            self._reset(keep_member=True)
            return True
        if isinstance(error, COORDINATOR_MOVED):
            self.link.mark_dead()
        return False

    async def _assign(self, join: Any) -> dict[str, bytes]:
        """The leader's assignment of everyone (Kafka's ``onLeaderElected``)."""
        members = [
            GroupMember(m.member_id, m.group_instance_id or None, bytes(m.metadata))
            for m in join.members
        ]
        topics = group_topics(members)
        counts = await self._partition_counts(topics)
        self._group_topics, self._counts = topics, counts
        self._next_metadata_check = self._clock.monotonic() + self._metadata_age_s()
        return compute_assignment(self.protocol, members, counts)

    async def _partition_counts(self, topics: set[str]) -> dict[str, int]:
        if not topics:
            return {}
        await self._metadata.refresh(topics)
        known = self._metadata.cache.topics
        return {t: len(known[t].partitions) for t in sorted(topics) if t in known}

    async def _install(self, data: bytes) -> None:
        """Take this generation's assignment: revoke, then assign, through the application."""
        try:
            assigned = set(assigned_partitions(data))
        except ProtocolDecodeError as exc:
            _log.error("group %s: unreadable assignment, taking none: %s", self.group_id, exc)
            assigned = set()
        foreign = {tp for tp in assigned if tp[0] not in self.topics}
        if foreign:
            # Kafka's checkAssignmentMatchedSubscription: the assignment was made for another
            # subscription (ours changed meanwhile, or a static restart): rejoin.
            assigned -= foreign
            self._rejoin = True
        revoked = self.owned - assigned
        added = assigned - self.owned
        if revoked:
            await self._give_up(EventKind.REVOKE, revoked)
            if is_cooperative(self.protocol):
                self._rejoin = True  # the follow-up round hands them to their new owners
        committed = await self.fetch_committed(added) if added else {}
        await self.channel.put(EventKind.ASSIGN, _tps(added, committed)).done
        self.owned |= added
        self.rebalances += 1
        self._heartbeat_now.set()
        _log.info(
            "group %s: generation %d (%s), member %s owns %d partition(s)",
            self.group_id,
            self.generation,
            self.protocol,
            self.member_id,
            len(self.owned),
        )

    # -- metadata --------------------------------------------------------------------------

    def _metadata_age_s(self) -> float:
        return self.config.metadata_max_age_ms / 1000.0

    async def _check_metadata(self) -> None:
        """A pattern's topics, and (as leader) the partition counts of the group's topics:
        either changing means a rebalance (Kafka's metadata-change detection)."""
        self._next_metadata_check = self._clock.monotonic() + self._metadata_age_s()
        matcher = self._matcher
        if matcher is not None:
            md = await self._metadata.fetch(None)
            matched = frozenset(
                name
                for name, tm in md.topics.items()
                if tm.error is None and not tm.internal and matcher(name)
            )
            if matched != self.topics:
                _log.info("group %s: subscription now %s", self.group_id, sorted(matched))
                self.topics = matched
                self.request_rejoin()
        if self.is_leader and self._group_topics:
            counts = await self._partition_counts(self._group_topics)
            if counts != self._counts:
                self.request_rejoin()

    # -- the heartbeat task ----------------------------------------------------------------

    async def _heartbeats(self) -> None:
        interval = self.config.heartbeat_interval_ms / 1000.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_now.wait(), interval)
            self._heartbeat_now.clear()
            if (
                not self.subscribed
                or self.generation < 0
                or not self.member_id
                or self._in_rebalance
                or self.fatal is not None
            ):
                continue
            idle_s = 0.0 if self.polling else self._clock.monotonic() - self.last_poll
            if idle_s > self.config.max_poll_interval_ms / 1000.0:
                if not self._poll_timed_out:
                    await self._poll_timeout(idle_s)
                continue
            try:
                await self._heartbeat()
            except LogdError as exc:  # transport: the link forgot the coordinator
                _log.debug("group %s: heartbeat failed: %s", self.group_id, exc)

    async def _heartbeat(self) -> None:
        generation, member_id = self.generation, self.member_id
        request = group_pb2.HeartbeatRequest(
            group_id=self.group_id,
            generation_id=generation,
            member_id=member_id,
            group_instance_id=self.instance_id or "",
        )
        resp: Any = await self.link.call("Heartbeat", request)
        error = error_from_proto(resp.error)
        if error is None or (generation, member_id) != (self.generation, self.member_id):
            return  # fine, or about a generation we have left behind meanwhile
        if isinstance(error, RebalanceInProgressError):
            self.request_rejoin()
        elif isinstance(error, FencedInstanceIdError):
            self._fail(error)
        elif isinstance(error, (UnknownMemberIdError, IllegalGenerationError)):
            _log.info("group %s: %s; rejoining", self.group_id, error)
            self._reset(keep_member=isinstance(error, IllegalGenerationError))
            self.request_rejoin()
        elif isinstance(error, COORDINATOR_MOVED):
            self.link.mark_dead()
        elif not isinstance(error, CoordinatorLoadInProgressError):
            _log.warning("group %s: heartbeat: %s", self.group_id, error)

    async def _poll_timeout(self, idle_s: float) -> None:
        _log.warning(
            "group %s: poll() not called for %.1f s (max_poll_interval_ms): leaving the group",
            self.group_id,
            idle_s,
        )
        self._poll_timed_out = True
        await self._leave("consumer poll timeout has expired")
        self._reset(keep_member=False)
        # A step the application never served belongs to a generation we have left: void.
        for event in self.channel.clear():
            if not event.done.done():
                event.done.set_exception(_RoundAborted())
                event.done.exception()  # retrieved here: the round may already be gone

    def _poll_resumed(self) -> None:
        if self._poll_timed_out:
            self._poll_timed_out = False
            self.request_rejoin()

    # -- offsets ---------------------------------------------------------------------------

    async def commit(self, offsets: Mapping[Tp, int]) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) as this member's
        generation, or as a standalone consumer when it has none; raises the first error."""
        if not offsets:
            return
        async with self._commit_lock:  # one at a time, so commits land in the order made
            member = self.generation >= 0 and bool(self.member_id)
            request = group_pb2.OffsetCommitRequest(
                group_id=self.group_id,
                generation_id=self.generation if member else -1,
                member_id=self.member_id if member else "",
                group_instance_id=(self.instance_id or "") if member else "",
                partitions=[
                    group_pb2.OffsetCommitPartition(topic=t, partition=p, offset=o, leader_epoch=-1)
                    for (t, p), o in sorted(offsets.items())
                ],
            )
            resp: Any = await self.link.call_retrying("OffsetCommit", request, _first_error)
            error = _first_error(resp)
        if error is None:
            return
        if isinstance(error, (UnknownMemberIdError, IllegalGenerationError)):
            self._reset(keep_member=isinstance(error, IllegalGenerationError))
            self.request_rejoin()
        elif isinstance(error, RebalanceInProgressError):
            self.request_rejoin()
        raise error

    async def fetch_committed(self, partitions: Iterable[Tp]) -> dict[Tp, int]:
        """The committed offsets of ``partitions`` (those with none are left out)."""
        wanted = sorted(partitions)
        if not wanted:
            return {}
        request = group_pb2.OffsetFetchRequest(
            group_id=self.group_id,
            partitions=[common_pb2.TopicPartition(topic=t, partition=p) for t, p in wanted],
        )
        resp: Any = await self.link.call_retrying(
            "OffsetFetch", request, lambda r: error_from_proto(r.error)
        )
        error = error_from_proto(resp.error)
        if error is not None:
            raise error
        found: dict[Tp, int] = {}
        for p in resp.partitions:
            err = error_from_proto(p.error)
            if err is not None:
                raise err
            if p.offset >= 0:
                found[(p.topic, p.partition)] = p.offset
        return found

    # -- leaving ---------------------------------------------------------------------------

    async def _leave(self, reason: str) -> None:
        """LeaveGroup, unless static: a static member's absence moves nothing until its
        session times out (KIP-345), so a restart inside it keeps the assignment."""
        if not self.member_id or self.instance_id is not None:
            return
        request = group_pb2.LeaveGroupRequest(
            group_id=self.group_id,
            members=[group_pb2.MemberIdentity(member_id=self.member_id, reason=reason)],
        )
        timeout = min(self.config.request_timeout_ms, 5_000) / 1000.0
        try:
            await self.link.call("LeaveGroup", request, timeout)
        except LogdError as exc:
            _log.debug("group %s: leave failed: %s", self.group_id, exc)

    def _reset(self, *, keep_member: bool) -> None:
        """The group went on without us: our partitions are lost."""
        if not keep_member:
            self.member_id = ""
        self.generation = -1
        self.leader_id = ""
        self._lost = bool(self.owned)

    def _fail(self, error: LogdError) -> None:
        _log.error("group %s: %s", self.group_id, error)
        self.fatal = error
        self.channel.notify()

    async def close(self) -> None:
        """Stop both tasks and leave the group (not a static member: see :meth:`_leave`)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.subscribed:
            await self._leave("the consumer is closing")
        for event in self.channel.clear():
            event.done.cancel()


def _first_error(resp: Any) -> LogdError | None:
    for p in resp.partitions:
        error = error_from_proto(p.error)
        if error is not None:
            return error
    return None
