"""A consumer-protocol group (KIP-848, ``group.protocol=consumer``): the second group type,
beside the classic groups of ``group.py``.

Members only heartbeat (ConsumerGroupHeartbeat); there are no join or sync phases and no
leader member. The group keeps a **group epoch**, bumped whenever its membership, a
member's subscription or the partitions of a subscribed topic change; the broker then
computes a new **target assignment** (``target.py``, partitioning's assignors) stamped with
that epoch, and each member reconciles towards its part of it at its own pace
(``reconcile.py``: revoke before assign). A member's **member epoch** is the target epoch
it has reached; its heartbeats and offset commits are fenced by it.

Time arrives as ``now_ms``; member ids come from the caller's ``new_member_id`` (version 0
of the API lets the coordinator choose one). Pure: no I/O, no clock, no randomness.
Not thread-safe; owned by its coordinator.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping

from logd.errors import ErrorCode
from logd.groups import topic_regex
from logd.groups.reconcile import ConsumerMember, MemberState, Partitions, reconcile
from logd.groups.target import SERVER_ASSIGNORS, choose_assignor, target_assignment
from partitioning import TopicPartition

__all__ = [
    "JOIN_EPOCH",
    "LEAVE_EPOCH",
    "STATIC_LEAVE_EPOCH",
    "ConsumerGroup",
    "ConsumerGroupConfig",
    "ConsumerGroupState",
    "ConsumerHeartbeat",
    "ConsumerHeartbeatAnswer",
    "SavedConsumerGroup",
]

JOIN_EPOCH = 0
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2


class ConsumerGroupState(enum.Enum):
    """Kafka's ``ConsumerGroupState``; ``value`` is Kafka's spelling (ListGroups, describe)."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerGroupConfig:
    """Kafka's ``group.consumer.*`` broker settings."""

    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 5_000
    max_size: int = 2**31 - 1
    #: ``group.consumer.regex.refresh.interval.ms``: regexes are matched again this long
    #: after their last match even if no topic came or went.
    regex_refresh_interval_ms: int = 600_000


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerHeartbeat:
    """One ConsumerGroupHeartbeat. ``None`` (and -1 for the timeout) means "unchanged since
    the last heartbeat", as on the wire."""

    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topics: tuple[str, ...] | None = None
    subscribed_regex: str | None = None
    server_assignor: str | None = None
    owned: Partitions | None = None
    client_id: str = ""
    client_host: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerHeartbeatAnswer:
    error: ErrorCode
    member_id: str = ""
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    #: None: unchanged since the member's last heartbeat.
    assignment: Partitions | None = None
    message: str = ""


def _refusal(req: ConsumerHeartbeat) -> tuple[ErrorCode, str]:
    """Kafka's ``throwIfConsumerGroupHeartbeatRequestIsInvalid``."""
    bad = ErrorCode.INVALID_REQUEST
    if not req.group_id:
        return bad, "GroupId can't be empty."
    if req.instance_id is not None and not req.instance_id:
        return bad, "InstanceId can't be empty."
    if req.subscribed_regex:
        why = topic_regex.refusal(req.subscribed_regex)
        if why is not None:
            return ErrorCode.INVALID_REGULAR_EXPRESSION, why
    if req.member_epoch == JOIN_EPOCH:
        if req.rebalance_timeout_ms == -1:
            return bad, "RebalanceTimeoutMs must be provided in first request."
        if req.owned is None or req.owned:
            return bad, "TopicPartitions must be empty when (re-)joining."
        if req.subscribed_topics is None and req.subscribed_regex is None:
            return bad, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
    elif not req.member_id:
        return bad, "MemberId can't be empty."
    elif req.member_epoch < STATIC_LEAVE_EPOCH:
        return bad, f"MemberEpoch {req.member_epoch} is invalid."
    elif req.member_epoch == STATIC_LEAVE_EPOCH and req.instance_id is None:
        return bad, "InstanceId can't be null."
    if req.server_assignor is not None and req.server_assignor not in SERVER_ASSIGNORS:
        known = ", ".join(SERVER_ASSIGNORS)
        return ErrorCode.UNSUPPORTED_ASSIGNOR, f"assignor {req.server_assignor!r} ({known})"
    return ErrorCode.NONE, ""


@dataclasses.dataclass(frozen=True, slots=True)
class SavedConsumerGroup:
    """A consumer group's state at one moment (members are immutable values, so shallow
    copies of the dicts are enough)."""

    group_epoch: int
    assignment_epoch: int
    members: Mapping[str, ConsumerMember]
    target: Mapping[str, Partitions]
    partitions_per_topic: Mapping[str, int]
    session_deadline: Mapping[str, int]
    revocation_deadline: Mapping[str, int]
    persisted: Mapping[bytes, bytes]
    regex_matched: tuple[int | None, int]


class ConsumerGroup:
    """One consumer-protocol group. See the module docstring."""

    def __init__(self, group_id: str, config: ConsumerGroupConfig) -> None:
        self.group_id = group_id
        self.config = config
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerMember] = {}
        #: The target assignment at ``assignment_epoch``, per member.
        self.target: dict[str, Partitions] = {}
        #: The partition counts of the subscribed topics the group epoch last saw.
        self.partitions_per_topic: dict[str, int] = {}
        self._session_deadline: dict[str, int] = {}
        self._revocation_deadline: dict[str, int] = {}
        #: The records (key -> value) last written for the group to ``__consumer_offsets``
        #: (``consumer_records.py``); the coordinator writes only what differs from them.
        self.persisted: dict[bytes, bytes] = {}
        #: Writes of the group's records not yet reported, by sequence number: what the
        #: coordinator held before each (``consumer_ops.py`` takes it back if the log
        #: refuses the write).
        self.unwritten: dict[int, SavedConsumerGroup] = {}
        self.writes_made = 0
        #: The topic-set version (the driver's count of topic creations, deletions and
        #: partition changes) the members' regexes were last matched at, and when.
        self._regex_version: int | None = None
        self._regex_matched_ms = 0

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(
            m.member_epoch != self.assignment_epoch or m.state is not MemberState.STABLE
            for m in self.members.values()
        ):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def subscribed_topics(self) -> frozenset[str]:
        """Every topic some member subscribes to (the driver reads their partition counts)."""
        return frozenset(t for m in self.members.values() for t in m.topics)

    def assignor(self) -> str:
        return choose_assignor(self.members.values())

    def owner_of(self, tp: TopicPartition) -> str | None:
        for member in self.members.values():
            if tp in member.assigned or tp in member.revoking:
                return member.member_id
        return None

    def next_deadline_ms(self) -> int | None:
        deadlines = [*self._session_deadline.values(), *self._revocation_deadline.values()]
        return min(deadlines, default=None)

    def save(self) -> SavedConsumerGroup:
        """Everything a heartbeat or an expiry may change, for :meth:`restore`."""
        return SavedConsumerGroup(
            self.group_epoch,
            self.assignment_epoch,
            dict(self.members),
            dict(self.target),
            dict(self.partitions_per_topic),
            dict(self._session_deadline),
            dict(self._revocation_deadline),
            dict(self.persisted),
            (self._regex_version, self._regex_matched_ms),
        )

    def restore(self, saved: SavedConsumerGroup, not_before_ms: int) -> None:
        """Back to ``saved`` (the write made since was refused by the log). A deadline
        already passed moves to ``not_before_ms``: the expiry that was refused is retried
        then, not in a loop."""
        self.group_epoch = saved.group_epoch
        self.assignment_epoch = saved.assignment_epoch
        self.members = dict(saved.members)
        self.target = dict(saved.target)
        self.partitions_per_topic = dict(saved.partitions_per_topic)
        self.persisted = dict(saved.persisted)
        self._regex_version, self._regex_matched_ms = saved.regex_matched
        self._session_deadline = {
            m: max(d, not_before_ms) for m, d in saved.session_deadline.items()
        }
        self._revocation_deadline = {
            m: max(d, not_before_ms) for m, d in saved.revocation_deadline.items()
        }

    # ------------------------------------------------------------------ heartbeats

    def heartbeat(
        self,
        req: ConsumerHeartbeat,
        partitions_per_topic: Mapping[str, int],
        now_ms: int,
        new_member_id: Callable[[], str],
        topics_version: int | None = None,
    ) -> ConsumerHeartbeatAnswer:
        """Serve one heartbeat. ``partitions_per_topic`` holds (at least) the partition
        counts of :meth:`subscribed_topics` and of the topics the request subscribes to; a
        topic missing there does not exist (yet). ``topics_version`` moves whenever a
        topic comes or goes (None: unknown, so regexes are matched on every heartbeat)."""
        error, message = _refusal(req)
        if error is not ErrorCode.NONE:
            return ConsumerHeartbeatAnswer(error, req.member_id, message=message)
        if req.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(req, now_ms)
        old = self.members.get(req.member_id) if req.member_id else None
        rejoined = False
        if old is None and req.member_epoch == JOIN_EPOCH and req.instance_id is not None:
            error, old = self._take_over(req, new_member_id)
            if error is not ErrorCode.NONE:
                message = f"instance id {req.instance_id} is in use by a member that did not leave"
                return ConsumerHeartbeatAnswer(error, req.member_id, message=message)
            rejoined = old is not None
        error, message = self._fence(req, old)
        if error is not ErrorCode.NONE:
            return ConsumerHeartbeatAnswer(error, req.member_id, message=message)
        member = self._updated(req, old, new_member_id, keep=rejoined)
        changed = old is None or _subscription(old) != _subscription(member)
        new_regex = member.subscribed_regex is not None and (
            old is None or old.subscribed_regex != member.subscribed_regex
        )
        self.members[member.member_id] = member
        if self._regexes_due(new_regex, topics_version, now_ms):
            self._regex_version, self._regex_matched_ms = topics_version, now_ms
            if self._resolve_regexes(partitions_per_topic):
                changed = True
                member = self.members[member.member_id]
        if self._topics_changed(partitions_per_topic) or changed:
            self.group_epoch += 1
        if self.group_epoch > self.assignment_epoch:
            self._assign()
        return self._reconcile(req, old, member, now_ms)

    def _fence(
        self, req: ConsumerHeartbeat, member: ConsumerMember | None
    ) -> tuple[ErrorCode, str]:
        """Kafka's ``throwIfMemberEpochIsInvalid``: an epoch above the member's is a zombie,
        one below only the previous epoch of a member whose answer got lost."""
        if req.member_epoch == JOIN_EPOCH:
            if member is None and len(self.members) >= self.config.max_size:
                return ErrorCode.GROUP_MAX_SIZE_REACHED, "the group is full"
            return ErrorCode.NONE, ""
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, f"member {req.member_id} is not in the group"
        if req.member_epoch == member.member_epoch:
            return ErrorCode.NONE, ""
        lost_answer = (
            req.member_epoch == member.previous_member_epoch
            and req.owned is not None
            and req.owned <= member.assigned
        )
        if req.member_epoch > member.member_epoch or not lost_answer:
            return ErrorCode.FENCED_MEMBER_EPOCH, (
                f"member epoch {req.member_epoch}, expected {member.member_epoch}"
            )
        return ErrorCode.NONE, ""

    def _take_over(
        self, req: ConsumerHeartbeat, new_member_id: Callable[[], str]
    ) -> tuple[ErrorCode, ConsumerMember | None]:
        """A static member joins (epoch 0, a new member id): if the member that had its
        instance id left with epoch -2, the newcomer takes its place -- its partitions, its
        target, no new group epoch, so nobody rebalances (KIP-848; Kafka's
        ``throwIfInstanceIdIsUnreleased``). One that did not leave keeps it:
        UNRELEASED_INSTANCE_ID. Returns the member to continue from (None: a new one)."""
        static = next((m for m in self.members.values() if m.instance_id == req.instance_id), None)
        if static is None:
            return ErrorCode.NONE, None
        if static.member_epoch != STATIC_LEAVE_EPOCH:
            return ErrorCode.UNRELEASED_INSTANCE_ID, None
        member_id = req.member_id or new_member_id()
        del self.members[static.member_id]
        self.target[member_id] = self.target.pop(static.member_id, frozenset())
        self._session_deadline.pop(static.member_id, None)
        self._revocation_deadline.pop(static.member_id, None)
        heir = dataclasses.replace(
            static, member_id=member_id, member_epoch=JOIN_EPOCH, previous_member_epoch=-1
        )
        return ErrorCode.NONE, heir

    def _updated(
        self,
        req: ConsumerHeartbeat,
        old: ConsumerMember | None,
        new_member_id: Callable[[], str],
        keep: bool = False,
    ) -> ConsumerMember:
        """The member after the request's changes; a (re)joining member owns nothing,
        unless it is a static member taking its own place back (``keep``)."""
        if old is None or (req.member_epoch == JOIN_EPOCH and not keep):
            # A new member, or one rejoining after it was fenced: it owns nothing now.
            base = ConsumerMember(req.member_id or new_member_id())
            if old is not None:
                base = dataclasses.replace(
                    base,
                    subscribed_topics=old.subscribed_topics,
                    subscribed_regex=old.subscribed_regex,
                    regex_topics=old.regex_topics,
                )
        else:
            base = old
        regex = base.subscribed_regex
        if req.subscribed_regex is not None:
            regex = req.subscribed_regex or None  # "" clears it
        return dataclasses.replace(
            base,
            instance_id=req.instance_id if req.instance_id is not None else base.instance_id,
            rack_id=req.rack_id if req.rack_id is not None else base.rack_id,
            client_id=req.client_id or base.client_id,
            client_host=req.client_host or base.client_host,
            subscribed_topics=(
                tuple(sorted(set(req.subscribed_topics)))
                if req.subscribed_topics is not None
                else base.subscribed_topics
            ),
            subscribed_regex=regex,
            regex_topics=base.regex_topics if regex == base.subscribed_regex else (),
            server_assignor=(
                req.server_assignor if req.server_assignor is not None else base.server_assignor
            ),
            rebalance_timeout_ms=(
                req.rebalance_timeout_ms
                if req.rebalance_timeout_ms >= 0
                else base.rebalance_timeout_ms
            ),
        )

    def _regexes_due(self, new_regex: bool, topics_version: int | None, now_ms: int) -> bool:
        """Whether to match the members' regexes now: a member brought a new one, a topic
        came or went since the last match (Kafka's ``lastMetadataImageWithNewTopics``), or
        the refresh interval passed. Otherwise the last match stands: a heartbeat costs no
        pass over every topic. (Kafka also waits >= 10 s between two matches of a group;
        logd matches at the first heartbeat after a change, so a new topic is picked up
        promptly -- topics come and go rarely, a match is one pass over their names.)"""
        if new_regex or topics_version is None or topics_version != self._regex_version:
            return True
        due = now_ms >= self._regex_matched_ms + self.config.regex_refresh_interval_ms
        return due and any(m.subscribed_regex is not None for m in self.members.values())

    def _resolve_regexes(self, partitions_per_topic: Mapping[str, int]) -> bool:
        """Match every member's regex against the topics that exist now (Kafka refreshes
        them as topics come and go); True when some member's topics changed."""
        existing = [t for t, n in partitions_per_topic.items() if n > 0]
        changed = False
        for member in list(self.members.values()):
            if member.subscribed_regex is None:
                continue
            found = topic_regex.matching(member.subscribed_regex, existing)
            if found != member.regex_topics:
                self.members[member.member_id] = dataclasses.replace(member, regex_topics=found)
                changed = True
        return changed

    def _topics_changed(self, partitions_per_topic: Mapping[str, int]) -> bool:
        counts = {
            t: partitions_per_topic[t]
            for t in sorted(self.subscribed_topics())
            if partitions_per_topic.get(t, 0) > 0
        }
        if counts == self.partitions_per_topic:
            return False
        self.partitions_per_topic = counts
        return True

    def _assign(self) -> None:
        self.target = target_assignment(
            self.assignor(), self.members, self.target, self.partitions_per_topic, self.group_epoch
        )
        self.assignment_epoch = self.group_epoch

    def _reconcile(
        self,
        req: ConsumerHeartbeat,
        old: ConsumerMember | None,
        member: ConsumerMember,
        now_ms: int,
    ) -> ConsumerHeartbeatAnswer:
        owners = {tp: m.member_id for m in self.members.values() for tp in m.owns}
        owned = frozenset() if req.member_epoch == JOIN_EPOCH else req.owned
        after = reconcile(
            member,
            self.assignment_epoch,
            self.target.get(member.member_id, frozenset()),
            owners.get,
            owned,
        )
        self.members[after.member_id] = after
        self.touch(after.member_id, now_ms)
        if after.state is not MemberState.UNREVOKED_PARTITIONS:
            self._revocation_deadline.pop(after.member_id, None)
        elif member.state is not MemberState.UNREVOKED_PARTITIONS:
            self._revocation_deadline[after.member_id] = now_ms + after.rebalance_timeout_ms
        tell = (
            req.member_epoch == JOIN_EPOCH
            or old is None
            or after.assigned != old.assigned
            or (req.owned is not None and req.owned != after.assigned)
        )
        return ConsumerHeartbeatAnswer(
            ErrorCode.NONE,
            after.member_id,
            after.member_epoch,
            self.config.heartbeat_interval_ms,
            after.assigned if tell else None,
        )

    def touch(self, member_id: str, now_ms: int) -> None:
        """The member was heard from: its session restarts (a classic member's lasts the
        session timeout it joined with)."""
        member = self.members[member_id]
        timeout = self.config.session_timeout_ms
        if member.classic is not None:
            timeout = member.classic.session_timeout_ms
        self._session_deadline[member_id] = now_ms + timeout

    def restore_member(self, member: ConsumerMember, now_ms: int) -> None:
        """A member as the records of a previous coordinator left it: it keeps its epoch
        and partitions, and gets a fresh session (and revocation) deadline."""
        self.members[member.member_id] = member
        self._session_deadline[member.member_id] = now_ms + self.config.session_timeout_ms
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            self._revocation_deadline[member.member_id] = now_ms + member.rebalance_timeout_ms

    # ------------------------------------------------------------------ leaving

    def _leave(self, req: ConsumerHeartbeat, now_ms: int) -> ConsumerHeartbeatAnswer:
        member = self.members.get(req.member_id)
        if member is None:
            return ConsumerHeartbeatAnswer(
                ErrorCode.UNKNOWN_MEMBER_ID, req.member_id, message="not a member"
            )
        if req.member_epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
            # A static member leaves for a while (a restart): it keeps its partitions for
            # its session timeout, so that its instance id rejoins without a rebalance.
            self.members[member.member_id] = dataclasses.replace(
                member,
                member_epoch=STATIC_LEAVE_EPOCH,
                previous_member_epoch=member.member_epoch,
            )
            self._session_deadline[member.member_id] = now_ms + self.config.session_timeout_ms
            self._revocation_deadline.pop(member.member_id, None)
        else:
            self.remove(req.member_id)
        return ConsumerHeartbeatAnswer(ErrorCode.NONE, req.member_id, req.member_epoch)

    def remove(self, member_id: str) -> None:
        """The member left or was fenced: what it owned is free, and the group epoch moves
        so that the others share its partitions."""
        self.members.pop(member_id, None)
        self.target.pop(member_id, None)
        self._session_deadline.pop(member_id, None)
        self._revocation_deadline.pop(member_id, None)
        self.group_epoch += 1

    def expire(self, now_ms: int) -> list[str]:
        """Fence the members whose session ended, or who did not give up partitions within
        their rebalance timeout; returns their ids."""
        gone = sorted(
            m
            for m in self.members
            if self._session_deadline.get(m, now_ms + 1) <= now_ms
            or self._revocation_deadline.get(m, now_ms + 1) <= now_ms
        )
        for member_id in gone:
            self.remove(member_id)
        return gone

    # ------------------------------------------------------------------ offsets

    def validate_offset_commit(self, member_id: str, member_epoch: int) -> ErrorCode:
        """Kafka's ``ConsumerGroup.validateOffsetCommit``: a commit without a member (epoch
        < 0) only while the group is empty; a member's, only at its current epoch."""
        if member_epoch < 0 and not self.members:
            return ErrorCode.NONE
        return self._at_epoch(member_id, member_epoch)

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode:
        """Kafka 4's ``ConsumerGroup.validateOffsetFetch``: no member id and epoch < 0 is an
        admin's (or an old client's) fetch; a member's must be at its current epoch."""
        if not member_id and member_epoch < 0:
            return ErrorCode.NONE
        if member_id is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return self._at_epoch(member_id, member_epoch)

    def _at_epoch(self, member_id: str, member_epoch: int) -> ErrorCode:
        """UNKNOWN_MEMBER_ID for no such member, STALE_MEMBER_EPOCH for another epoch than
        its current one: the member check offset commits and fetches share."""
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return ErrorCode.NONE


def _subscription(member: ConsumerMember) -> tuple[object, ...]:
    return (
        member.subscribed_topics,
        member.subscribed_regex,
        member.server_assignor,
        member.rack_id,
    )
