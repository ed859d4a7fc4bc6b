"""A consumer's membership of its group, sans I/O: events in, steps and effects out.

:class:`MemberMachine` is Kafka's ``AbstractCoordinator`` + ``ConsumerCoordinator`` without
a socket, a task or a clock. Its states and their transitions are the table of
:mod:`~logd.client.group.member_state`; what it asks for is one of two kinds of output:

* a **step** of the rebalance round (:meth:`MemberMachine.next_step`): hand partitions to
  the application or take them back (:class:`AppStep`), send a JoinGroup or SyncGroup
  (:class:`SendJoin`, :class:`SendSync`, with ``logd.groups.messages`` requests), look up
  partition counts for the leader's assignment (:class:`LookUpPartitions`), fetch the
  committed offsets of added partitions (:class:`FetchCommitted`). The shell executes the
  step and feeds its outcome back (``on_join``, ``on_sync``, ``served``, ...); an outcome
  for a step the machine no longer waits for (the round was given up meanwhile) is dropped.
* **effects** (:class:`Effect`, returned by every input): wake the rebalance task, back
  off, forget the coordinator, heartbeat now, tell the application (a fatal error), void
  the application's unserved steps.

Beside the round: :meth:`~MemberMachine.heartbeat` says whether to heartbeat now (or to
leave, when the application stopped polling); :meth:`~MemberMachine.commit_request` builds
a commit as this member's generation; :meth:`~MemberMachine.metadata_check` says when a
pattern's topics or the leader's partition counts are due to be looked at again.

Errors, as Kafka's clients treat them: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
transport failures forget the coordinator and retry after a backoff; UNKNOWN_MEMBER_ID and
ILLEGAL_GENERATION mean the group moved on without us: the generation is dropped, the
partitions are lost (``on_lost``, no commit) and the member rejoins; FENCED_INSTANCE_ID
(another process took our ``group_instance_id``), INCONSISTENT_GROUP_PROTOCOL,
INVALID_SESSION_TIMEOUT and any other error no retry mends are fatal: :attr:`fatal` is raised
by the application's next poll.

Time arrives as ``now`` (the client clock's monotonic seconds). Not thread-safe: owned by the
client's event loop (the shell, :mod:`~logd.client.group.membership`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from logd.client.config import ConsumerConfig
from logd.client.group.assign import (
    assigned_partitions,
    compute_assignment,
    group_topics,
    is_cooperative,
    subscription_protocols,
)
from logd.client.group.member_state import (
    HEARTBEATING,
    IN_GROUP,
    ROUND,
    MemberEvent,
    MemberState,
    next_state,
)
from logd.client.group.steps import (
    COORDINATOR_MOVED,
    AppStep,
    Effect,
    EventKind,
    FetchCommitted,
    LeaveForPollTimeout,
    LookUpPartitions,
    MetadataCheck,
    SendJoin,
    SendSync,
    Step,
)
from logd.client.types import OFFSET_STORED, PartitionKey, TopicPartition
from logd.errors import (
    CoordinatorLoadInProgressError,
    ErrorCode,
    FencedInstanceIdError,
    IllegalGenerationError,
    LogdError,
    MemberIdRequiredError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    error_for_code,
)
from logd.groups.messages import (
    NO_GENERATION,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupMember,
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupMember,
    LeaveGroupRequest,
    OffsetCommitPartition,
    OffsetCommitRequest,
    SyncGroupAssignment,
    SyncGroupRequest,
    SyncGroupResponse,
)
from partitioning import PROTOCOL_TYPE, ProtocolDecodeError

__all__ = ["MemberMachine"]

_log = logging.getLogger(__name__)
_S = MemberState
_E = MemberEvent
#: The steps of a round after its JoinGroup went out: a rejoin asked for in one of them needs
#: another round. One asked for while the partitions are given up first (GivingUp) needs none:
#: the JoinGroup that follows carries it (and GivenUp ends in JoinDue, outside any round).
_JOINED: frozenset[MemberState] = ROUND - {_S.GIVING_UP}


def _tps(
    keys: Iterable[PartitionKey], offsets: Mapping[PartitionKey, int] | None = None
) -> tuple[TopicPartition, ...]:
    if offsets is None:
        return tuple(TopicPartition(t, p) for t, p in sorted(keys))
    return tuple(TopicPartition(t, p, offsets.get((t, p), OFFSET_STORED)) for t, p in sorted(keys))


class MemberMachine:
    """One consumer's membership. See the module docstring. Loop-owned."""

    def __init__(self, config: ConsumerConfig) -> None:
        assert config.group_id
        self.config = config
        self.group_id: str = config.group_id
        self.instance_id = config.group_instance_id
        self.state = _S.UNSUBSCRIBED
        # What the coordinator told us.
        self.member_id = ""
        self.generation = NO_GENERATION
        self.protocol = ""
        self.leader_id = ""
        #: Partitions this member owns (the application reads exactly these).
        self.owned: set[PartitionKey] = set()
        # What we subscribe to.
        self.topics: frozenset[str] = frozenset()
        self._matcher: Callable[[str], bool] | None = None
        # The leader's view of what it assigned, to notice partitions being added.
        self._group_topics: frozenset[str] = frozenset()
        self._counts: dict[str, int] = {}
        self._next_check = 0.0
        # The round in progress: the step it waits for, the leader's JoinGroup members, the
        # partitions the new generation adds.
        self._waiting: Step | None = None
        self._members: tuple[JoinGroupMember, ...] = ()
        self._added: frozenset[PartitionKey] = frozenset()
        #: A rejoin asked for during the round in progress. Invariant: False outside a round.
        self._rejoin_after_round = False
        #: The error that ended membership (state Fatal); the application's poll raises it.
        self.fatal: LogdError | None = None
        #: Completed rebalances (generations installed), for tests and tools.
        self.rebalances = 0

    @property
    def is_leader(self) -> bool:
        return bool(self.member_id) and self.leader_id == self.member_id

    def _fire(self, event: MemberEvent) -> None:
        self.state = next_state(self.state, event)

    # -- the application -------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str], matcher: Callable[[str], bool] | None) -> Effect:
        """Subscribe to ``topics``, or to every topic ``matcher`` accepts (looked up every
        ``metadata_max_age_ms``); a first or changed subscription makes a round due."""
        wanted = frozenset(topics) if matcher is None else frozenset()
        first = self.state in (_S.UNSUBSCRIBED, _S.FATAL)
        changed = first or matcher is not None or wanted != self.topics
        self._matcher = matcher
        self.topics = wanted
        self._next_check = 0.0
        if first:
            self._fire(_E.SUBSCRIBE)
            return Effect.WAKE
        return self._rejoin() if changed else Effect.NONE

    def unsubscribe(self) -> Effect:
        """The application left the group (it has given its partitions up already); take
        :meth:`leave_request` first."""
        self.owned.clear()
        self._fire(_E.UNSUBSCRIBE)
        self._reset(keep_member=False)
        self._end_round()
        return Effect.VOID

    def poll_resumed(self) -> Effect:
        """The application polls again after a poll timeout: rejoin."""
        if self.state is not _S.POLL_TIMED_OUT:
            return Effect.NONE
        self._fire(_E.POLLED)
        return Effect.WAKE

    def request_rejoin(self) -> Effect:
        return self._rejoin()

    def leave_request(self) -> LeaveGroupRequest | None:
        """LeaveGroup, unless static or not a member: a static member's absence moves
        nothing until its session times out (KIP-345), so a restart inside it keeps the
        assignment."""
        if not self.member_id or self.instance_id is not None:
            return None
        return LeaveGroupRequest(self.group_id, (LeaveGroupMember(self.member_id),))

    # -- the rebalance round -----------------------------------------------------------------

    def next_step(self) -> Step | None:
        """The step the round waits for (the same one until its outcome is fed), or None
        when no round is due."""
        assert self.state in ROUND or not self._rejoin_after_round, self.state
        if self._waiting is None and self.state is _S.JOIN_DUE:
            self._waiting = self._begin_round()
        return self._waiting

    def _begin_round(self) -> Step:
        if self.owned and self.generation < 0:  # the group went on without us
            self._fire(_E.GIVE_UP)
            return AppStep(EventKind.LOST, _tps(self.owned))
        if self.owned and not is_cooperative(self.protocol):  # eager: everything back first
            self._fire(_E.GIVE_UP)
            return AppStep(EventKind.REVOKE, _tps(self.owned))
        self._fire(_E.JOIN)
        self._rejoin_after_round = False  # a rejoin asked for from now on needs another round
        return SendJoin(self._join_request())

    def _join_request(self) -> JoinGroupRequest:
        cfg = self.config
        protocols = subscription_protocols(
            cfg.partition_assignment_strategy, self.topics, self.owned, self.generation
        )
        return JoinGroupRequest(
            group_id=self.group_id,
            member_id=self.member_id,
            protocol_type=PROTOCOL_TYPE,
            protocols=tuple(JoinGroupProtocol(name, data) for name, data in protocols),
            session_timeout_ms=cfg.session_timeout_ms,
            rebalance_timeout_ms=cfg.max_poll_interval_ms,
            group_instance_id=self.instance_id,
            client_id=cfg.client_id,
        )

    def served(self, step: AppStep) -> Effect:
        """The application has served ``step``."""
        if step is not self._waiting:
            return Effect.NONE
        if step.kind is EventKind.ASSIGN:
            return self._installed()
        self.owned -= {(tp.topic, tp.partition) for tp in step.partitions}
        if self.state is _S.GIVING_UP:
            self._waiting = None
            self._fire(_E.GIVEN_UP)  # next_step() joins
        else:
            self._waiting = self._after_revoke()
        return Effect.NONE

    def on_join(self, step: SendJoin, resp: JoinGroupResponse) -> Effect:
        if step is not self._waiting:
            return Effect.NONE
        if resp.error is not ErrorCode.NONE:
            error = error_for_code(int(resp.error), resp.error_message)
            if isinstance(error, MemberIdRequiredError):
                self.member_id = resp.member_id  # KIP-394: join again with it, now
                return self._retry()
            return self._round_error(error)
        self.member_id, self.generation = resp.member_id, resp.generation_id
        self.protocol, self.leader_id = resp.protocol_name, resp.leader_id
        if self.is_leader:
            self._members = resp.members
            self._fire(_E.ELECTED)
            self._waiting = LookUpPartitions(frozenset(group_topics(resp.members)))
        else:
            self._fire(_E.SYNC)
            self._waiting = SendSync(self._sync_request({}))
        return Effect.NONE

    def on_partitions(
        self, step: LookUpPartitions, counts: Mapping[str, int], now: float
    ) -> Effect:
        """The leader's assignment of everyone (Kafka's ``onLeaderElected``), from the
        partition counts of the group's topics looked up at ``now``."""
        if step is not self._waiting:
            return Effect.NONE
        self._group_topics, self._counts = step.topics, dict(counts)
        self._next_check = now + self.config.metadata_max_age_ms / 1000.0
        assignments = compute_assignment(self.protocol, self._members, counts)
        self._members = ()
        self._fire(_E.SYNC)
        self._waiting = SendSync(self._sync_request(assignments))
        return Effect.NONE

    def _sync_request(self, assignments: Mapping[str, bytes]) -> SyncGroupRequest:
        return SyncGroupRequest(
            group_id=self.group_id,
            generation_id=self.generation,
            member_id=self.member_id,
            assignments=tuple(SyncGroupAssignment(m, a) for m, a in assignments.items()),
            group_instance_id=self.instance_id,
            protocol_type=PROTOCOL_TYPE,
            protocol_name=self.protocol,
        )

    def on_sync(self, step: SendSync, resp: SyncGroupResponse) -> Effect:
        """This generation's assignment: revoke what it takes away, then add what it adds."""
        if step is not self._waiting:
            return Effect.NONE
        if resp.error is not ErrorCode.NONE:
            return self._round_error(error_for_code(int(resp.error), resp.error_message))
        assigned = self._assigned(resp.assignment)
        revoked = self.owned - assigned
        self._added = frozenset(assigned - self.owned)
        if not revoked:
            self._waiting = self._after_revoke()
            return Effect.NONE
        if is_cooperative(self.protocol):
            self._rejoin_after_round = True  # the follow-up round hands them to their new owners
        self._fire(_E.REVOKE)
        self._waiting = AppStep(EventKind.REVOKE, _tps(revoked))
        return Effect.NONE

    def _assigned(self, data: bytes) -> set[PartitionKey]:
        try:
            assigned: set[PartitionKey] = set(assigned_partitions(data))
        except ProtocolDecodeError as exc:
            _log.error("group %s: unreadable assignment, taking none: %s", self.group_id, exc)
            return set()
        foreign = {key for key in assigned if key[0] not in self.topics}
        if foreign:
            # Kafka's checkAssignmentMatchedSubscription: the assignment was made for another
            # subscription (ours changed meanwhile, or a static restart): rejoin.
            self._rejoin_after_round = True
            assigned -= foreign
        return assigned

    def _after_revoke(self) -> Step:
        if self._added:
            self._fire(_E.FETCH)
            return FetchCommitted(tuple(sorted(self._added)))
        self._fire(_E.ADD)
        return AppStep(EventKind.ASSIGN, ())

    def on_committed(self, step: FetchCommitted, found: Mapping[PartitionKey, int]) -> Effect:
        """The committed offsets of the added partitions (those without one left out)."""
        if step is not self._waiting:
            return Effect.NONE
        self._fire(_E.ADD)
        self._waiting = AppStep(EventKind.ASSIGN, _tps(self._added, found))
        return Effect.NONE

    def _installed(self) -> Effect:
        self.owned |= self._added
        self.rebalances += 1
        self._fire(_E.ADDED)
        rejoin = self._rejoin_after_round
        self._end_round()
        _log.info(
            "group %s: generation %d (%s), member %s owns %d partition(s)",
            self.group_id, self.generation, self.protocol, self.member_id, len(self.owned),
        )  # fmt: skip
        return Effect.HEARTBEAT_NOW | (self._rejoin() if rejoin else Effect.NONE)

    def on_failure(self, step: Step, error: LogdError) -> Effect:
        """Executing ``step`` raised ``error`` (transport, timeout, a metadata lookup...)."""
        if step is not self._waiting:
            return Effect.NONE
        return self._failed(error)

    def _round_error(self, error: LogdError) -> Effect:
        """A JoinGroup or SyncGroup answered ``error``."""
        if isinstance(error, UnknownMemberIdError):
            self._reset(keep_member=False)
        elif isinstance(error, IllegalGenerationError):
            self._reset(keep_member=True)
        elif not isinstance(error, RebalanceInProgressError):
            return self._failed(error)
        return self._retry()

    def _retry(self) -> Effect:
        self._fire(_E.RETRY)
        self._end_round()
        return Effect.NONE

    def _failed(self, error: LogdError) -> Effect:
        moved = isinstance(error, COORDINATOR_MOVED)
        effects = Effect.FORGET_COORDINATOR if moved else Effect.NONE
        if not error.retriable:
            return effects | self._fail(error)
        _log.debug("group %s: %s; retrying", self.group_id, error)
        self._fire(_E.FAIL)
        self._end_round()
        return effects | Effect.BACK_OFF

    def _fail(self, error: LogdError) -> Effect:
        _log.error("group %s: %s", self.group_id, error)
        self.fatal = error
        self._fire(_E.FATAL)
        self._end_round()
        return Effect.NOTIFY

    def _end_round(self) -> None:
        self._waiting = None
        self._members = ()
        self._added = frozenset()
        self._rejoin_after_round = False

    def _rejoin(self) -> Effect:
        self._fire(_E.REJOIN)
        if self.state in _JOINED:  # the JoinGroup of this round went out before the ask
            self._rejoin_after_round = True
        return Effect.WAKE

    def _reset(self, *, keep_member: bool) -> None:
        """The group went on without us: the generation is gone, and with it the partitions
        owned (lost at the next round)."""
        if not keep_member:
            self.member_id = ""
        self.generation = NO_GENERATION
        self.leader_id = ""

    # -- heartbeats ---------------------------------------------------------------------------

    def heartbeat(self, idle_s: float) -> HeartbeatRequest | LeaveForPollTimeout | None:
        """What the heartbeat timer does now, the application having not polled for
        ``idle_s`` (0 while it waits inside poll()): heartbeat, leave, or nothing."""
        if self.state not in HEARTBEATING or self.generation < 0 or not self.member_id:
            return None
        if idle_s > self.config.max_poll_interval_ms / 1000.0:
            leave = self.leave_request()
            self._fire(_E.POLL_TIMEOUT)
            self._reset(keep_member=False)
            self._end_round()
            return LeaveForPollTimeout(leave, idle_s)
        return HeartbeatRequest(self.group_id, self.generation, self.member_id, self.instance_id)

    def on_heartbeat(self, request: HeartbeatRequest, resp: HeartbeatResponse) -> Effect:
        stale = (request.generation_id, request.member_id) != (self.generation, self.member_id)
        if resp.error is ErrorCode.NONE or stale or self.state not in IN_GROUP:
            return Effect.NONE  # fine, or about a generation we have left behind meanwhile
        error = error_for_code(int(resp.error), resp.error_message)
        if isinstance(error, RebalanceInProgressError):
            return self._rejoin()
        if isinstance(error, FencedInstanceIdError):
            return self._fail(error)
        if isinstance(error, (UnknownMemberIdError, IllegalGenerationError)):
            _log.info("group %s: %s; rejoining", self.group_id, error)
            self._reset(keep_member=isinstance(error, IllegalGenerationError))
            return self._rejoin()
        if isinstance(error, COORDINATOR_MOVED):
            return Effect.FORGET_COORDINATOR
        if not isinstance(error, CoordinatorLoadInProgressError):
            _log.warning("group %s: heartbeat: %s", self.group_id, error)
        return Effect.NONE

    # -- commits ------------------------------------------------------------------------------

    def commit_request(self, offsets: Mapping[PartitionKey, int]) -> OffsetCommitRequest:
        """A commit of ``offsets`` (the next offset to read, per partition) as this member's
        generation, or as a standalone consumer when it has none."""
        generation, member_id = self._commit_identity()
        return OffsetCommitRequest(
            group_id=self.group_id,
            partitions=tuple(
                OffsetCommitPartition(t, p, o) for (t, p), o in sorted(offsets.items())
            ),
            generation_id=generation,
            member_id=member_id,
            group_instance_id=self.instance_id if member_id else None,
        )

    def _commit_identity(self) -> tuple[int, str]:
        """The generation and member id a commit made now carries."""
        if self.generation >= 0 and self.member_id:
            return self.generation, self.member_id
        return NO_GENERATION, ""

    def on_commit_error(self, request: OffsetCommitRequest, error: LogdError) -> Effect:
        """``request`` (a :meth:`commit_request`) was answered ``error``. An answer about a
        generation or member id left behind meanwhile (an asynchronous commit outliving a
        poll timeout or a rebalance) changes nothing, as Kafka's ``generationUnchanged``."""
        stale = (request.generation_id, request.member_id) != self._commit_identity()
        if stale or self.state not in IN_GROUP:
            return Effect.NONE
        if isinstance(error, (UnknownMemberIdError, IllegalGenerationError)):
            self._reset(keep_member=isinstance(error, IllegalGenerationError))
            return self._rejoin()
        if isinstance(error, RebalanceInProgressError):
            return self._rejoin()
        return Effect.NONE

    # -- metadata -----------------------------------------------------------------------------

    def metadata_check(self, now: float) -> MetadataCheck | None:
        """The metadata check due at ``now``, if any: a pattern's topics, and (as leader)
        the partition counts of the group's topics -- either changing means a rebalance
        (Kafka's metadata-change detection). The next is due ``metadata_max_age_ms`` later."""
        at = self.next_check_at()
        if at is None or now < at:
            return None
        self._next_check = now + self.config.metadata_max_age_ms / 1000.0
        counts_of = self._group_topics if self.is_leader else frozenset()
        return MetadataCheck(topic_names=self._matcher is not None, counts_of=counts_of)

    def next_check_at(self) -> float | None:
        """When the next metadata check is due (monotonic s), None when none is."""
        if self.state not in (_S.JOIN_DUE, _S.STABLE):  # not in the middle of a round
            return None
        if self._matcher is None and not (self.is_leader and self._group_topics):
            return None
        return self._next_check

    def metadata_check_failed(self, now: float) -> None:
        """The check could not be made: try again after ``retry_backoff_ms``."""
        self._next_check = now + self.config.retry_backoff_ms / 1000.0

    def on_topic_names(self, names: Iterable[str]) -> Effect:
        """The cluster's topics (not internal ones) for a pattern subscription."""
        matcher = self._matcher
        if matcher is None:
            return Effect.NONE
        matched = frozenset(name for name in names if matcher(name))
        if matched == self.topics:
            return Effect.NONE
        _log.info("group %s: subscription now %s", self.group_id, sorted(matched))
        self.topics = matched
        return self._rejoin()

    def on_partition_counts(self, counts: Mapping[str, int]) -> Effect:
        """The leader's topics' partition counts now: partitions added mean a rebalance."""
        return self._rejoin() if dict(counts) != self._counts else Effect.NONE
