"""Client group members and the pure group coordinator, joined in-process (h11's
``ConnectionPair`` idea): no socket, no broker, no clock.

Each :class:`Member` is a :class:`~logd.client.group.machine.MemberMachine` whose steps are
executed here the way the I/O shell (:mod:`logd.client.group.membership`) executes them:
the application serves its steps at once (unless the test says it stopped polling),
partition counts come from the pair's topics, requests go to a
:class:`~logd.groups.coordinator.GroupCoordinator` driven by ``tests.groups.harness.Harness``
(a fake ``__consumer_offsets`` log; writes durable at once). Every request and answer
crosses the wire as the real ones do: the client's codec builds the protobuf, its bytes are
parsed back, the broker's gRPC conversions (``group_convert``) make the core's request, and
the answer goes back the same way. Time moves only when :meth:`Pair.settle` or
:meth:`Pair.advance` moves it -- and then members heartbeat every ``heartbeat_interval_ms``
as the shell's heartbeat task would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.group import codec
from logd.client.group.machine import MemberMachine
from logd.client.group.member_state import MemberState
from logd.client.group.steps import (
    AppStep,
    Effect,
    EventKind,
    FetchCommitted,
    LeaveForPollTimeout,
    LookUpPartitions,
    SendJoin,
    SendSync,
    Step,
)
from logd.client.types import PartitionKey, TopicPartition
from logd.errors import LogdError
from logd.frontends.grpc import group_convert as convert
from logd.groups.config import CoordinatorConfig
from logd.v1 import group_pb2
from tests.groups.harness import Harness

__all__ = ["GROUP", "Member", "Pair"]

GROUP = "g"
HEARTBEAT_MS = 1_000
#: Rounds of steps :meth:`Pair.settle` takes at most (a machine that never rests is a bug).
_MAX_STEPS = 10_000

# method -> (request type, the broker's conversion, the coordinator call, answer conversion)
_METHODS: dict[str, tuple[Any, Callable[[Any], Any], str, Callable[[Any], Any]]] = {
    "JoinGroup": (group_pb2.JoinGroupRequest, lambda r: convert.join_request(r, "127.0.0.1"),
                  "join_group", convert.join_response),
    "SyncGroup": (group_pb2.SyncGroupRequest, convert.sync_request, "sync_group",
                  convert.sync_response),
    "Heartbeat": (group_pb2.HeartbeatRequest, convert.heartbeat_request, "heartbeat",
                  convert.heartbeat_response),
    "LeaveGroup": (group_pb2.LeaveGroupRequest, convert.leave_request, "leave_group",
                   convert.leave_response),
    "OffsetCommit": (group_pb2.OffsetCommitRequest, convert.commit_request, "commit_offsets",
                     convert.commit_response),
}  # fmt: skip


def _wire(message: Any) -> Any:
    """``message`` as the other side reads it: serialized and parsed back."""
    return type(message).FromString(message.SerializeToString())


class Pair:
    """One coordinator (replaceable: :meth:`move_coordinator`) and the members of group
    ``GROUP``. Not thread-safe; one per test."""

    def __init__(self, topics: Mapping[str, int] | None = None) -> None:
        self.topics: dict[str, int] = dict(topics or {"t": 6})
        self.coordinator = Harness(CoordinatorConfig(min_session_timeout_ms=1_000))
        self.members: list[Member] = []
        self._ids = itertools.count(1)

    @property
    def now_ms(self) -> int:
        return self.coordinator.now

    def member(self, name: str, **options: Any) -> Member:
        member = Member(self, name, **options)
        self.members.append(member)
        return member

    # -- the wire ----------------------------------------------------------------------------

    def send(self, to: Harness, method: str, request: Any) -> int:
        """Deliver ``request`` to coordinator ``to``; the id to ask :meth:`answer` with."""
        kind, parse, call, _ = _METHODS[method]
        assert isinstance(request, kind), (method, request)
        rid = next(self._ids)
        getattr(to.coord, call)(rid, parse(_wire(request)), to.now)
        to.drain()
        return rid

    def answer(self, to: Harness, method: str, rid: int) -> Any | None:
        body = to.answer(rid)
        return None if body is None else _wire(_METHODS[method][3](body))

    def call(self, to: Harness, method: str, request: Any) -> Any:
        """A request the coordinator answers at once."""
        answer = self.answer(to, method, self.send(to, method, request))
        assert answer is not None, f"{method} parked"
        return answer

    def fetch(self, to: Harness, request: Any) -> Any:
        request = _wire(request)
        found = to.coord.fetch_offsets(request.group_id, convert.fetch_partitions(request))
        return _wire(convert.fetch_response(found))

    # -- time --------------------------------------------------------------------------------

    def settle(self, limit_ms: int = 120_000, done: Callable[[], bool] | None = None) -> None:
        """Run every member until none can move (or ``done()``); while some wait for a
        parked answer, let the coordinator's time pass (members heartbeat meanwhile)."""
        until = self.now_ms + limit_ms
        for _ in range(_MAX_STEPS):
            if done is not None and done():
                return
            moved = [m.step() for m in self.members]
            if any(moved):
                continue
            if not any(m.parked for m in self.members):
                assert done is None, "settled before done()"
                return
            deadline = self.coordinator.coord.next_deadline_ms()
            assert deadline is not None and deadline <= until, "nothing answers in time"
            self.advance(min(max(deadline - self.now_ms, 1), HEARTBEAT_MS))
        raise AssertionError(f"members still moving after {_MAX_STEPS} steps")

    def advance(self, ms: int) -> None:
        """Let ``ms`` pass, in heartbeat intervals: each member heartbeats at each."""
        end = self.now_ms + ms
        while self.now_ms < end:
            self.coordinator.advance(min(HEARTBEAT_MS, end - self.now_ms))
            for member in self.members:
                member.heartbeat()

    def move_coordinator(self) -> None:
        """The coordinator's partition gets a new leader: the old one unloads (answering
        what it parked NOT_COORDINATOR), a new one loads the same log."""
        old = self.coordinator
        self.coordinator = Harness(old.config, replay=old.log, now_ms=old.now)
        old.coord.unload(old.now)
        old.drain()


class Member:
    """One consumer's machine, its application and its link to the coordinator."""

    def __init__(self, pair: Pair, name: str, **options: Any) -> None:
        config = parse_config(
            ConsumerConfig,
            None,
            {"group_id": GROUP, "client_id": name, "heartbeat_interval_ms": HEARTBEAT_MS,
             "session_timeout_ms": 10_000, **options},
        )  # fmt: skip
        self.pair = pair
        self.name = name
        self.machine = MemberMachine(config)
        #: The coordinator this member's link knows (it forgets it on FORGET_COORDINATOR).
        self.link = pair.coordinator
        #: Steps executed, by kind: "join", "sync", "counts", "fetch", "assign", "revoke", "lost".
        self.steps: list[str] = []
        #: What the application served: (kind, [(topic, partition, offset)]).
        self.served: list[tuple[EventKind, list[tuple[str, int, int]]]] = []
        #: Every effect asked for so far.
        self.effects = Effect.NONE
        #: False: the application stopped polling (its steps wait; it is idle).
        self.polling = True
        self.idle_since_ms = 0
        #: True: a paused process (no steps, no heartbeats).
        self.frozen = False
        self.parked: tuple[SendJoin | SendSync, int, Harness] | None = None

    @property
    def state(self) -> MemberState:
        return self.machine.state

    @property
    def owned(self) -> set[PartitionKey]:
        return set(self.machine.owned)

    def _take(self, effects: Effect) -> None:
        self.effects |= effects
        if Effect.FORGET_COORDINATOR in effects:
            self.link = self.pair.coordinator

    def subscribe(self, *topics: str, matcher: Callable[[str], bool] | None = None) -> None:
        self._take(self.machine.subscribe(topics, matcher))

    # -- the rebalance task ------------------------------------------------------------------

    def step(self) -> bool:
        """Make the metadata check that is due, execute the machine's next step, or deliver
        a parked answer; False if none of them."""
        if self.frozen:
            return False
        if self.parked is not None:
            return self._deliver()
        check = self.machine.metadata_check(self.pair.now_ms / 1000)
        if check is not None:
            if check.topic_names:
                self._take(self.machine.on_topic_names(self.pair.topics))
            if check.counts_of:
                counts = {t: n for t, n in self.pair.topics.items() if t in check.counts_of}
                self._take(self.machine.on_partition_counts(counts))
            return True
        step = self.machine.next_step()
        if step is None or (isinstance(step, AppStep) and not self.polling):
            return False
        self._execute(step)
        return True

    def _execute(self, step: Step) -> None:
        machine = self.machine
        if isinstance(step, AppStep):
            self.steps.append(step.kind.value)
            parts = [(p.topic, p.partition, p.offset) for p in step.partitions]
            self.served.append((step.kind, parts))
            self._take(machine.served(step))
        elif isinstance(step, (SendJoin, SendSync)):
            self.steps.append("join" if isinstance(step, SendJoin) else "sync")
            method, request = (
                ("JoinGroup", codec.join_request(step.request))
                if isinstance(step, SendJoin)
                else ("SyncGroup", codec.sync_request(step.request))
            )
            self.parked = (step, self.pair.send(self.link, method, request), self.link)
        elif isinstance(step, LookUpPartitions):
            self.steps.append("counts")
            counts = {t: n for t, n in self.pair.topics.items() if t in step.topics}
            self._take(machine.on_partitions(step, counts, self.pair.now_ms / 1000))
        else:
            assert isinstance(step, FetchCommitted)
            self.steps.append("fetch")
            answer = self.pair.fetch(self.link, codec.fetch_request(GROUP, step.partitions))
            self._take(machine.on_committed(step, codec.fetch_response(answer)))

    def step_until(self, done: Callable[[], bool], limit: int = 20) -> None:
        """Step this member alone until ``done()``."""
        for _ in range(limit):
            if done():
                return
            assert self.step(), "stuck"
        raise AssertionError("not done in time")

    @property
    def answered(self) -> bool:
        """A parked JoinGroup/SyncGroup has its answer (not delivered yet)."""
        assert self.parked is not None
        _, rid, to = self.parked
        return to.answer(rid) is not None

    def _deliver(self) -> bool:
        assert self.parked is not None
        step, rid, to = self.parked
        if isinstance(step, SendJoin):
            join = self.pair.answer(to, "JoinGroup", rid)
            if join is None:
                return False
            self.parked = None
            self._take(self.machine.on_join(step, codec.join_response(join)))
        else:
            sync = self.pair.answer(to, "SyncGroup", rid)
            if sync is None:
                return False
            self.parked = None
            self._take(self.machine.on_sync(step, codec.sync_response(sync)))
        return True

    # -- the heartbeat task, commits, leaving ------------------------------------------------

    def heartbeat(self) -> None:
        if self.frozen:
            return
        idle_s = 0.0 if self.polling else (self.pair.now_ms - self.idle_since_ms) / 1000
        due = self.machine.heartbeat(idle_s)
        if isinstance(due, LeaveForPollTimeout):
            self._take(due.effects)
            self._leave(due.leave)
        elif due is not None:
            answer = self.pair.call(self.link, "Heartbeat", codec.heartbeat_request(due))
            self._take(self.machine.on_heartbeat(due, codec.heartbeat_response(answer)))

    def stop_polling(self) -> None:
        self.polling = False
        self.idle_since_ms = self.pair.now_ms

    def poll_again(self) -> None:
        self.polling = True
        self._take(self.machine.poll_resumed())

    def commit(self, offsets: dict[PartitionKey, int]) -> LogdError | None:
        made = self.machine.commit_request(offsets)
        request = codec.commit_request(made)
        error = codec.commit_error(self.pair.call(self.link, "OffsetCommit", request))
        if error is not None:
            self._take(self.machine.on_commit_error(made, error))
        return error

    def unsubscribe(self) -> None:
        leave = self.machine.leave_request()
        self._take(self.machine.unsubscribe())
        self._leave(leave)

    def _leave(self, request: Any) -> None:
        if request is not None:
            self.pair.call(self.link, "LeaveGroup", codec.leave_request(request, "test"))

    def assigned(self) -> list[TopicPartition]:
        """Every partition the application took, in order."""
        return [
            TopicPartition(t, p, o)
            for kind, parts in self.served
            if kind is EventKind.ASSIGN
            for t, p, o in parts
        ]
