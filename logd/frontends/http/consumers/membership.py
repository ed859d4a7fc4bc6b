"""A REST consumer instance's membership of its consumer group: Kafka's classic protocol
(JoinGroup, SyncGroup, Heartbeat, LeaveGroup) run on the seam's group calls -- the same
coordinator every Kafka and logd consumer of the group meets, so a REST consumer shares the
partitions with them.

One asyncio task per subscribed instance (:meth:`GroupMember.run`): find the coordinator (this
broker must be it: a group coordinated by another broker is refused NOT_COORDINATOR, 50003,
until the listener forwards group calls to their coordinator), join with the consumer
protocol's subscription bytes (``partitioning.protocol``) offering the range and round-robin
assignors (eager), compute everyone's assignment when elected leader
(``partitioning.assignors``), sync, then heartbeat every ``heartbeat_ms`` until the coordinator
asks for a rebalance (REBALANCE_IN_PROGRESS: join again), the membership is lost
(UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: join again as new) or the instance closes (LeaveGroup).
A pattern subscription is matched against the topics at each join and every ``recheck_ms``; a
new match joins again.

The member never commits by itself: before giving partitions up (a rebalance, closing) it
awaits ``on_revoke`` with them (the instance commits there when auto-commit is on).

Ownership: the broker's event loop; driven by its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from logd.broker.seam import BrokerSeam, Caller
from logd.errors import (
    ErrorCode,
    LogdError,
    MemberIdRequiredError,
    NotCoordinatorError,
    error_for_code,
)
from logd.groups.messages import (
    HeartbeatRequest,
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupMember,
    LeaveGroupRequest,
    SyncGroupAssignment,
    SyncGroupRequest,
    TopicPartition,
)
from partitioning.assignors import ASSIGNORS
from partitioning.errors import ProtocolDecodeError
from partitioning.model import Subscription
from partitioning.protocol import (
    PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)

__all__ = ["GroupMember", "Subscribed", "coordinated_here"]

_log = logging.getLogger(__name__)
_PROTOCOLS: Final = ("range", "roundrobin")
_BACKOFF_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0)
_REJOIN: Final = frozenset(
    {ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION}
)


class Subscribed:
    """What the instance subscribed to: topics, or a pattern (a regular expression that
    must match a whole topic name, as Kafka's ``Pattern``)."""

    def __init__(self, topics: Sequence[str] = (), pattern: str | None = None) -> None:
        self.topics = tuple(dict.fromkeys(topics))
        self.pattern = pattern
        self._regex = re.compile(pattern) if pattern is not None else None

    def matching(self, names: Sequence[str]) -> tuple[str, ...]:
        if self._regex is None:
            return self.topics
        regex = self._regex
        return tuple(sorted(n for n in names if regex.fullmatch(n)))


async def coordinated_here(seam: BrokerSeam, group_id: str, caller: Caller, advice: str) -> None:
    """Finds the group's coordinator, as a client does first (it also creates
    ``__consumer_offsets`` when missing); NotCoordinatorError (with ``advice``) when it is
    another broker: group calls are not forwarded yet."""
    (found,) = await seam.find_coordinators([group_id], caller=caller)
    if found.error is not None:
        raise found.error
    if found.node_id != seam.node_id:
        raise NotCoordinatorError(
            f"group {group_id!r} is coordinated by broker {found.node_id}: {advice}"
        )


class GroupMember:
    """See the module docstring."""

    def __init__(
        self,
        seam: BrokerSeam,
        group_id: str,
        subscribed: Subscribed,
        caller: Caller,
        on_revoke: Callable[[tuple[TopicPartition, ...]], Awaitable[None]],
        *,
        session_timeout_ms: int = 45_000,
        rebalance_timeout_ms: int = 300_000,
        heartbeat_ms: int = 3000,
        recheck_ms: int = 5000,
    ) -> None:
        self._seam = seam
        self.group_id = group_id
        self.subscribed = subscribed
        self._caller = caller
        self._on_revoke = on_revoke
        self._session_timeout_ms = session_timeout_ms
        self._rebalance_timeout_ms = rebalance_timeout_ms
        self._heartbeat_s = heartbeat_ms / 1000.0
        self._recheck_s = recheck_ms / 1000.0
        self.member_id = ""
        self.generation = -1
        #: The partitions held now; empty while (re)joining.
        self.assignment: tuple[TopicPartition, ...] = ()
        #: Set while an assignment is held (a GET records waits on it).
        self.stable = asyncio.Event()
        #: The last error that kept the member out (reported by a GET records).
        self.error: LogdError | None = None
        self._matched: tuple[str, ...] = ()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def close(self) -> None:
        """Stop, give the partitions back (``on_revoke``) and leave the group."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._revoke()
        if self.member_id:
            request = LeaveGroupRequest(self.group_id, (LeaveGroupMember(self.member_id),))
            with contextlib.suppress(LogdError):
                await self._seam.leave_group(request, caller=self._caller)
            self.member_id = ""

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._round()
                failures = 0
            except LogdError as exc:
                self.error = exc
                _log.debug("http consumer in %s: %s", self.group_id, exc)
                await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1

    async def _revoke(self) -> None:
        self.stable.clear()
        if self.assignment:
            held, self.assignment = self.assignment, ()
            await self._on_revoke(held)

    async def _round(self) -> None:
        """One membership: join, sync, heartbeat until it ends (returns to join again)."""
        await self._revoke()
        await self._find_coordinator()
        joined = await self._join()
        assignments = await self._assign(joined) if joined.leader_id == self.member_id else ()
        synced = await self._seam.sync_group(
            SyncGroupRequest(
                self.group_id, self.generation, self.member_id, assignments,
                protocol_type=PROTOCOL_TYPE, protocol_name=joined.protocol_name,
            ),
            caller=self._caller,
        )  # fmt: skip
        if synced.error in _REJOIN:
            self._lost(synced.error)
            return
        _raise(synced.error, synced.error_message)
        try:
            given = decode_assignment(synced.assignment).partitions if synced.assignment else ()
        except ProtocolDecodeError as exc:
            raise LogdError(
                f"the group's leader sent an assignment that does not decode: {exc}"
            ) from None
        self.assignment = tuple(TopicPartition(tp.topic, tp.partition) for tp in given)
        self.error = None
        self.stable.set()
        await self._heartbeat()

    async def _find_coordinator(self) -> None:
        await coordinated_here(self._seam, self.group_id, self._caller, "create the consumer"
                               " instance on that broker's HTTP listener")  # fmt: skip

    def _lost(self, code: ErrorCode) -> None:
        if code != ErrorCode.REBALANCE_IN_PROGRESS:
            self.member_id, self.generation = "", -1

    async def _join(self) -> JoinGroupResponse:
        names = [t.name for t in await self._seam.list_topics(caller=self._caller)]
        self._matched = self.subscribed.matching(names)
        metadata = encode_subscription(Subscription(self._matched))
        while True:
            joined = await self._seam.join_group(
                JoinGroupRequest(
                    self.group_id, self.member_id, PROTOCOL_TYPE,
                    tuple(JoinGroupProtocol(name, metadata) for name in _PROTOCOLS),
                    self._session_timeout_ms, self._rebalance_timeout_ms,
                    client_id=self._caller.client_id, client_host=self._caller.address,
                ),
                caller=self._caller,
            )  # fmt: skip
            if joined.error == ErrorCode.MEMBER_ID_REQUIRED:  # KIP-394: join again with it
                self.member_id = joined.member_id
                continue
            if joined.error == ErrorCode.UNKNOWN_MEMBER_ID:
                self.member_id = ""
                continue
            _raise(joined.error, joined.error_message)
            self.member_id, self.generation = joined.member_id, joined.generation_id
            return joined

    async def _assign(self, joined: JoinGroupResponse) -> tuple[SyncGroupAssignment, ...]:
        """The leader's work: every member's partitions with the chosen assignor."""
        subscriptions = {}
        for member in joined.members:
            try:
                subscriptions[member.member_id] = decode_subscription(member.metadata)
            except ProtocolDecodeError:
                subscriptions[member.member_id] = Subscription(())
        topics = sorted({t for s in subscriptions.values() for t in s.topics})
        counts: dict[str, int] = {}
        if topics:
            meta = await self._seam.metadata(topics, caller=self._caller)
            counts = {t.name: len(t.partitions) for t in meta.topics if t.error is None}
        assignor = ASSIGNORS[joined.protocol_name]
        result = assignor.assign(counts, subscriptions)
        return tuple(SyncGroupAssignment(m, encode_assignment(a)) for m, a in result.items())

    async def _heartbeat(self) -> None:
        """Until the membership ends; a changed pattern match ends it too."""
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self._recheck_s
        while True:
            await asyncio.sleep(self._heartbeat_s)
            beat = await self._seam.heartbeat(
                HeartbeatRequest(self.group_id, self.generation, self.member_id),
                caller=self._caller,
            )
            if beat.error in _REJOIN:
                self._lost(beat.error)
                return
            _raise(beat.error, beat.error_message)
            if self.subscribed.pattern is not None and loop.time() >= next_check:
                next_check = loop.time() + self._recheck_s
                names = [t.name for t in await self._seam.list_topics(caller=self._caller)]
                if self.subscribed.matching(names) != self._matched:
                    return


def _raise(code: ErrorCode, message: str) -> None:
    if code != ErrorCode.NONE:
        error = error_for_code(code, message or code.name.lower().replace("_", " "))
        if isinstance(error, MemberIdRequiredError):
            return
        raise error
