"""Random join/sync/heartbeat/leave/commit/tick/persist sequences against invariants.

Four clients (two dynamic, two static) behave like Kafka consumers that may do anything at
any time: rejoin early, sync late, stop heartbeating, crash and restart, commit with what
they believe their generation is. Writes are made durable, or fail, when Hypothesis says.
After every step:

* at most one member per generation is told it leads, and the group's leader is a member;
* every dynamic member of a Completing or Stable group was answered that generation (a
  static member may trail: KIP-345 keeps it until its session ends);
* the generation never goes backwards while the group exists;
* an offset commit is only accepted from a current member of the current generation (or,
  without a generation, for a group with no members), and what the coordinator serves as
  committed is exactly what it acknowledged;
* every request not answered yet is parked somewhere that will answer it: a join phase, a
  sync phase, or a write in flight — and at the end, with time run out and every write
  settled, nothing is left unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.group import Group
from logd.groups.messages import (
    JoinGroupResponse,
    LeaveGroupMember,
    OffsetCommitResponse,
    SyncGroupResponse,
)
from logd.groups.state import GroupState
from logd.groups.timers import TimerKey, TimerKind
from tests.groups.harness import Harness, Member

S = GroupState
G = "g"
TP = ("t", 0)
FENCES = {
    ErrorCode.ILLEGAL_GENERATION,
    ErrorCode.UNKNOWN_MEMBER_ID,
    ErrorCode.REBALANCE_IN_PROGRESS,
    ErrorCode.FENCED_INSTANCE_ID,
}


@dataclass
class Sent:
    kind: str
    client: int
    incarnation: int
    generation: int = -1  # the generation the client sent
    valid: bool = False  # commits: did the coordinator's state allow it when sent?
    offset: int = 0
    epoch: int = 0  # commits: which life of the group it was sent to


@dataclass
class Client:
    member: Member
    incarnation: int = 0
    leader_of: list[str] = field(default_factory=list)
    synced_generation: int = -1


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        config = CoordinatorConfig(initial_rebalance_delay_ms=1_000, min_session_timeout_ms=1_000)
        self.h = Harness(config, auto_persist=False)
        self.clients = [
            Client(Member("d0", session_ms=6_000, rebalance_ms=9_000)),
            Client(Member("d1", session_ms=8_000, rebalance_ms=5_000)),
            Client(Member("s0", instance_id="s0", session_ms=7_000, rebalance_ms=8_000)),
            Client(Member("s1", instance_id="s1", session_ms=9_000, rebalance_ms=6_000)),
        ]
        self.sent: dict[int, Sent] = {}
        self.seen: set[int] = set()
        # (life of the group, generation) -> member ids told they lead
        self.leaders: dict[tuple[int, int], set[str]] = {}
        self.answered_gen: dict[str, int] = {}  # member id -> generation of its last join
        self.last_generation = -1
        self.epoch = 0  # bumped when the group is deleted: a new life starts
        self.committed: dict[tuple[str, int], int] = {}
        self.unload_at_end = False

    # ------------------------------------------------------------------ helpers

    def group(self) -> Group | None:
        return self.h.coord._core.groups.get(G)

    def _track(self, rid: int, sent: Sent) -> None:
        self.sent[rid] = sent
        self._absorb()

    def _sent(self, kind: str, i: int) -> Sent:
        return Sent(kind, i, self.clients[i].incarnation if i >= 0 else 0)

    def _absorb(self) -> None:
        """Apply new answers as clients would."""
        for rid, body in list(self.h.responses.items()):
            if rid in self.seen:
                continue
            self.seen.add(rid)
            sent = self.sent.get(rid)
            if sent is None:
                continue
            if isinstance(body, JoinGroupResponse) and body.error is ErrorCode.NONE:
                self._joined(body)
            if isinstance(body, OffsetCommitResponse):
                self._commit_answered(sent, body)
            if sent.client < 0 or sent.incarnation != self.clients[sent.client].incarnation:
                continue  # an answer to an earlier life of the client
            self._client_sees(self.clients[sent.client], sent, body)

    def _joined(self, body: JoinGroupResponse) -> None:
        self.answered_gen[body.member_id] = body.generation_id
        if body.member_id == body.leader_id:
            self.leaders.setdefault((self.epoch, body.generation_id), set()).add(body.member_id)

    def _commit_answered(self, sent: Sent, body: OffsetCommitResponse) -> None:
        [error] = [p.error for p in body.partitions]
        if error is ErrorCode.NONE:
            assert sent.valid, "a commit the group's state did not allow was accepted"
            if sent.epoch == self.epoch:
                self.committed[TP] = sent.offset
        elif not sent.valid:
            assert error in FENCES, error

    def _client_sees(self, client: Client, sent: Sent, body: object) -> None:
        m = client.member
        if isinstance(body, JoinGroupResponse):
            if body.error in (ErrorCode.NONE, ErrorCode.MEMBER_ID_REQUIRED):
                m.member_id = body.member_id
            if body.error is ErrorCode.NONE:
                m.generation, m.leader_id = body.generation_id, body.leader_id
                client.leader_of = [x.member_id for x in body.members]
            elif body.error in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID):
                m.member_id, m.generation = "", -1
        elif isinstance(body, SyncGroupResponse):
            if body.error is ErrorCode.NONE:
                m.assignment = body.assignment
                client.synced_generation = sent.generation
            elif body.error in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID):
                m.member_id, m.generation = "", -1

    # ------------------------------------------------------------------ rules

    @rule(i=st.integers(0, 3))
    def join(self, i: int) -> None:
        rid = self.h.send_join(G, self.clients[i].member)
        self._track(rid, self._sent("join", i))

    @rule(i=st.integers(0, 3))
    def sync(self, i: int) -> None:
        client = self.clients[i]
        m = client.member
        plan = None
        if m.member_id and m.member_id == m.leader_id:
            plan = {x: f"{m.generation}:{x}".encode() for x in client.leader_of}
        sent = self._sent("sync", i)
        sent.generation = m.generation
        self._track(self.h.sync(G, m, plan), sent)

    @rule(i=st.integers(0, 3))
    def heartbeat(self, i: int) -> None:
        m = self.clients[i].member
        error = self.h.heartbeat(G, m)
        if error in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_INSTANCE_ID):
            m.member_id, m.generation = "", -1
        self._absorb()

    def leave(self, i: int) -> None:
        m = self.clients[i].member
        self.h.leave(G, LeaveGroupMember(m.member_id, m.instance_id))
        m.member_id, m.generation = "", -1
        self.clients[i].incarnation += 1
        self._absorb()

    @rule(i=st.integers(-1, 3), offset=st.integers(0, 1_000))
    def commit(self, i: int, offset: int) -> None:
        self.h.coord.tick(self.h.now)
        group = self.group()
        m = self.clients[i].member if i >= 0 else None
        if m is None or (m.generation < 0 and not m.member_id and m.instance_id is None):
            valid = group is None or group.state is S.EMPTY  # a standalone commit
        else:
            valid = (
                group is not None
                and m.member_id in group.members
                and m.generation == group.generation_id
                and group.state in (S.STABLE, S.PREPARING_REBALANCE)
                and (
                    m.instance_id is None or group.static_members.get(m.instance_id) == m.member_id
                )
            )
        sent = self._sent("commit", i)
        sent.valid, sent.offset, sent.epoch = valid, offset, self.epoch
        self._track(self.h.send_commit(G, {TP: offset}, m), sent)

    @rule(i=st.integers(0, 3), wait=st.sampled_from([0, 500]))
    def act(self, i: int, wait: int) -> None:
        """What a well-behaved consumer does next: join without an id or when told to
        rejoin, sync after a join, heartbeat otherwise; while it waits, time passes."""
        client = self.clients[i]
        m = client.member
        waiting = any(
            s.client == i and s.incarnation == client.incarnation and r not in self.h.responses
            for r, s in self.sent.items()
        )
        if waiting:
            self.advance(wait)
        elif not m.member_id or m.generation < 0:
            self.join(i)
        elif client.synced_generation != m.generation:
            self.sync(i)
        elif self.h.heartbeat(G, m) is not ErrorCode.NONE:
            self.join(i)

    @rule(i=st.integers(0, 3), wait=st.sampled_from([0, 500]))
    def act_again(self, i: int, wait: int) -> None:
        self.act(i, wait)  # the same rule once more: well-behaved steps twice as likely

    @initialize(auto_persist=st.booleans(), unload_at_end=st.booleans())
    def choose_storage(self, auto_persist: bool, unload_at_end: bool) -> None:
        """Writes durable at once, or whenever a rule settles one (maybe failing); the run
        ends with time running out, or with the coordinator unloaded mid-flight."""
        self.h.auto_persist = auto_persist
        self.unload_at_end = unload_at_end

    @rule(i=st.integers(0, 3), what=st.sampled_from(["leave", "crash", "delete"]))
    def disrupt(self, i: int, what: str) -> None:
        """Rarer events, drawn together so they do not crowd out progress."""
        if what == "leave":
            self.leave(i)
        elif what == "crash":
            self.crash_and_restart(i)
        else:
            self.delete()

    def crash_and_restart(self, i: int) -> None:
        client = self.clients[i]
        client.member.member_id, client.member.generation = "", -1
        client.incarnation += 1

    @rule(ms=st.sampled_from([0, 1, 500, 1_000, 3_000, 6_000, 12_000]))
    def advance(self, ms: int) -> None:
        self.h.advance(ms)
        self._absorb()

    @precondition(lambda self: bool(self.h.held))
    @rule(ok=st.booleans())
    def settle_a_write(self, ok: bool) -> None:
        self.h.persist_next(ErrorCode.NONE if ok else ErrorCode.NOT_ENOUGH_REPLICAS)
        self._absorb()

    def delete(self) -> None:
        group = self.group()
        deletable = group is not None and group.state is S.EMPTY
        rid = 10_000_000 + len(self.sent)
        self.h.coord.delete_groups(rid, [G], self.h.now)
        self.sent[rid] = Sent("delete", -1, 0)
        if deletable:
            self.epoch += 1  # gone from memory at once; its offsets with it
            self.committed.clear()
        self.h._collect()
        self._absorb()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def one_leader_per_generation(self) -> None:
        for generation, told in self.leaders.items():
            assert len(told) <= 1, f"generation {generation}: leaders {told}"
        group = self.group()
        if group is not None:
            assert (group.leader_id in group.members) if group.members else not group.leader_id

    @invariant()
    def members_share_the_generation(self) -> None:
        group = self.group()
        if group is None or group.state not in (S.STABLE, S.COMPLETING_REBALANCE):
            return
        for member_id, member in group.members.items():
            answered = self.answered_gen.get(member_id, -1)
            if member.group_instance_id is None:
                assert answered == group.generation_id, (member_id, answered)
            else:
                assert answered <= group.generation_id

    @invariant()
    def generations_only_grow(self) -> None:
        group = self.group()
        if group is None:
            self.last_generation = -1
            return
        assert group.generation_id >= self.last_generation
        self.last_generation = group.generation_id

    @invariant()
    def committed_is_what_was_acknowledged(self) -> None:
        assert self.h.committed(G) == self.committed

    @invariant()
    def timers_match_the_state(self) -> None:
        group = self.group()
        if group is None:
            return
        timers = self.h.coord._core.timers
        key = TimerKey
        assert (key(TimerKind.JOIN, G) in timers) == (group.state is S.PREPARING_REBALANCE)
        assert (key(TimerKind.SYNC, G) in timers) == bool(group.pending_sync)
        for member_id in group.members:
            assert key(TimerKind.HEARTBEAT, G, member_id) in timers, member_id
        for member_id in group.pending_members:
            assert key(TimerKind.PENDING_MEMBER, G, member_id) in timers, member_id

    @invariant()
    def every_waiting_request_will_be_answered(self) -> None:
        group = self.group()
        members = list(group.members.values()) if group is not None else []
        writes_in_flight = bool(self.h.held) or bool(self.h.coord._core.outbox.writes_waiting())
        for rid in self.h.coord.pending_request_ids():
            kind = self.sent[rid].kind
            if kind == "join":
                parked = [m for m in members if m.awaiting_join == rid]
                assert parked and group is not None
                assert group.state is S.PREPARING_REBALANCE or writes_in_flight, group.state
            elif kind == "sync":
                parked = [m for m in members if m.awaiting_sync == rid]
                assert parked and group is not None
                assert group.state is S.COMPLETING_REBALANCE
            else:
                assert writes_in_flight

    def teardown(self) -> None:
        h = self.h
        if self.unload_at_end:
            h.coord.unload(h.now)  # a new leader elsewhere: everyone is told to go there
            h._collect()
            assert h.coord.pending_request_ids() == ()
            return
        for _ in range(100):
            if not h.held:
                break
            h.persist_next()
        h.auto_persist = True
        h.drain()
        h.run_timers(h.now + 600_000)  # nobody heartbeats: every session ends
        assert h.coord.pending_request_ids() == ()
        h.coord.unload(h.now)
        assert h.coord.pending_request_ids() == ()


GroupMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_group_coordinator_invariants = GroupMachine.TestCase
