"""The deterministic cluster simulator (TigerBeetle's VOPR, for our Raft core).

One thread, one ``random.Random(seed)`` behind every choice, a fake clock counted in
ticks, a fake network and fake disks.  A run has two phases:

1. chaos: clients propose at whoever leads, the nemesis injects faults, every node ticks
   (at its own, possibly skewed, rate), messages are delivered when due;
2. liveness: the network heals, crashed nodes restart, faults stop, removed nodes are
   shut down -- and, with no proposal, the up voters must agree on one leader (and, with
   quiescence, the whole group must go quiet again) within ``liveness_bound`` ticks; the
   cluster must then commit a new entry, and every voter must learn it, within a bound.

The checker runs after every step (each delivered message, tick and Ready).  A violation
raises ``SimulationFailure`` whose message holds the seed, the scenario, the command that
replays it and the last events.

Not thread-safe; one Simulator per run.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from replication import ConfState, EntryId, Message, RaftError, Role, SnapshotRequest
from replication.messages import describe
from replication.quorum import VoteResult, vote_result
from tests.replication.sim.checker import Checker, Violation
from tests.replication.sim.detector import Detector
from tests.replication.sim.nemesis import Nemesis
from tests.replication.sim.network import FakeNetwork
from tests.replication.sim.node import SimNode
from tests.replication.sim.scenario import Scenario

__all__ = ["SimResult", "SimulationFailure", "Simulator", "run_seed"]

_MAX_DELIVERIES_PER_TICK = 20_000


class SimulationFailure(AssertionError):
    """A seed broke a property; ``str()`` tells how to replay it."""


@dataclass
class SimResult:
    seed: int
    steps: int
    ticks: int
    faults: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    dropped: int = 0
    committed: int = 0
    liveness_ticks: int = 0
    #: Faults injected while some node was quiet.
    quiet_faults: int = 0


class Simulator:
    def __init__(self, seed: int, *, trace: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.scenario = Scenario.generate(seed, self.rng)
        sc = self.scenario
        self.net = FakeNetwork(self.rng)
        self.net.drop_rate, self.net.dup_rate = sc.drop_rate, sc.dup_rate
        self.net.max_delay = sc.max_delay
        self.disk_delay_max = sc.disk_delay_max
        self.checker = Checker(self)
        self.nemesis = Nemesis(self)
        self.detector = Detector(self)
        conf = ConfState.of(sc.voters)
        self.nodes: dict[int, SimNode] = {i: SimNode(i, self, conf) for i in sc.voters}
        for i in sc.spares:
            self.nodes[i] = SimNode(i, self, None)
        self.now = 0
        self.steps = 0
        self.proposals = 0
        self.trace_all = trace
        # (leader, due tick, leader incarnation, follower, delivered)
        self.snapshot_reports: list[tuple[int, int, int, int, bool]] = []
        # (sender, sender incarnation, peer): a cut link its transport noticed
        self.unreachable_reports: list[tuple[int, int, int]] = []
        self.idle = False  # the workload is between two bursts
        self.lost: set[int] = set()  # nodes that died for good (liveness phase)
        #: (broker, listener) -> the last tick the listener heard that broker's frames.
        self.heard_at: dict[tuple[int, int], int] = {}
        #: The liveness phase's own draws (hang the leader or not), apart from the run's.
        self.lease_rng = random.Random(f"hang {seed}")
        self.events: deque[tuple[object, ...]] = deque(maxlen=300)

    # -- plumbing used by nodes and nemesis ------------------------------------------

    def record(self, *event: object) -> None:
        self.events.append((self.now, *event))
        if self.trace_all:
            print(_format_event((self.now, *event)))

    def send(self, msg: Message) -> None:
        self.record("send", msg)
        self.checker.on_send(self.nodes[msg.src], msg)
        if self.scenario.report_unreachable and (msg.src, msg.dst) in self.net.blocked:
            # A real transport notices a broken connection (and reports it next tick).
            report = (msg.src, self.nodes[msg.src].incarnation, msg.dst)
            self.unreachable_reports.append(report)
        at = self.net.send(msg, self.now)
        if isinstance(msg, SnapshotRequest):
            # The driver's transport learns whether a snapshot got through and says so
            # (report_snapshot), as etcd's does: a lost answer must not leave the leader
            # waiting in SNAPSHOT state forever.
            sender = self.nodes[msg.src]
            report = (
                at if at is not None else self.now + 1,
                sender.incarnation,
                msg.dst,
                at is not None,
            )
            self.snapshot_reports.append((msg.src, *report))

    def _report_snapshots(self) -> None:
        due = [r for r in self.snapshot_reports if r[1] <= self.now]
        self.snapshot_reports = [r for r in self.snapshot_reports if r[1] > self.now]
        for src, _, incarnation, dst, success in due:
            node = self.nodes[src]
            if node.raw is not None and node.incarnation == incarnation:
                node.raw.report_snapshot(dst, success=success)
                node.begin_ready(self.now)

    def _report_unreachable(self) -> None:
        reports, self.unreachable_reports = self.unreachable_reports, []
        for src, incarnation, dst in dict.fromkeys(reports):
            node = self.nodes[src]
            if node.raw is not None and node.incarnation == incarnation:
                self.record("unreachable", src, dst)
                node.raw.report_unreachable(dst)
                node.begin_ready(self.now)

    def disk_delay(self) -> int:
        return self.rng.randint(0, self.disk_delay_max) if self.disk_delay_max else 0

    def leader(self) -> SimNode | None:
        """The up node that believes it leads with the highest term."""
        best: SimNode | None = None
        best_term = -1
        for node in self.nodes.values():
            raw = node.raw
            if raw is not None and raw.role is Role.LEADER and raw.term > best_term:
                best, best_term = node, raw.term
        return best

    # -- the run ---------------------------------------------------------------------

    def run(self) -> SimResult:
        try:
            for i in self.scenario.voters:
                self.nodes[i].start()
            while self.now < self.scenario.chaos_ticks:
                self._tick(chaos=True)
            liveness = self._liveness()
        except (Violation, AssertionError, RaftError) as err:
            raise SimulationFailure(self._failure_text(err)) from err
        return SimResult(
            seed=self.seed,
            steps=self.steps,
            ticks=self.now,
            faults=dict(self.nemesis.counts),
            messages=self.net.stats.delivered,
            dropped=self.net.stats.dropped,
            committed=self.checker.max_committed + 1,
            liveness_ticks=liveness,
            quiet_faults=self.nemesis.quiet_faults,
        )

    def _tick(self, *, chaos: bool) -> None:
        self.now += 1
        self.nemesis.restart_due(self.now)
        self._report_snapshots()
        self._report_unreachable()
        self.detector.refresh()
        if chaos:
            self.nemesis.act()
            self._workload()
        lag = self.scenario.vouch_lag
        if lag is not None:
            self._hear()
        for node in self.nodes.values():
            raw = node.raw
            if raw is not None and (node.tick_rate >= 1.0 or self.rng.random() < node.tick_rate):
                if lag is not None:
                    raw.heard_from(self._vouched(node.id, lag))
                idle = node.inflight is None and not raw.has_ready()
                if not raw.tick() and idle and raw.has_ready():
                    # A driver of thousands of groups looks again only at those whose
                    # tick said it did something: the core must never fail to say so.
                    raise Violation(f"node {node.id}: a tick made a Ready but returned False")
                self.steps += 1
                node.begin_ready(self.now)
        self._deliver()

    def _hear(self) -> None:
        """A broker that lives (its group up or hung) is heard over every link not cut
        towards the listener -- by its other groups' frames, in logd."""
        blocked = self.net.blocked
        for src in self.nodes.values():
            if not src.broker_up:
                continue
            for dst in self.nodes:
                if dst != src.id and (src.id, dst) not in blocked:
                    self.heard_at[(src.id, dst)] = self.now

    def _vouched(self, me: int, lag: int) -> frozenset[int]:
        """The peers ``me``'s driver vouches for: heard within ``lag`` ticks and not
        down in its failure detector's view (``PeerNews.vouched``)."""
        since = self.now - lag
        heard = {src for (src, dst), at in self.heard_at.items() if dst == me and at >= since}
        return frozenset(heard - self.detector.view(me))

    def _deliver(self) -> None:
        deliveries = 0
        while True:
            for node in self.nodes.values():
                while node.due(self.now):
                    node.finish_ready()
                node.begin_ready(self.now)
            msg = self.net.pop_due(self.now)
            if msg is None:
                if not any(n.due(self.now) for n in self.nodes.values()):
                    return
                continue
            deliveries += 1
            if deliveries > _MAX_DELIVERIES_PER_TICK:
                raise Violation("livelock: too many deliveries within one tick")
            node = self.nodes[msg.dst]
            if node.raw is None:
                continue
            self.record("recv", msg)
            node.raw.step(msg)
            self.steps += 1
            node.begin_ready(self.now)

    def _workload(self) -> None:
        idle_rate = self.scenario.idle_rate
        if idle_rate and self.rng.random() < (idle_rate / 2 if self.idle else idle_rate):
            self.idle = not self.idle  # idle stretches last twice as long as bursts
        if self.idle or self.rng.random() >= self.scenario.propose_rate:
            return
        self._propose()

    def _propose(self, node: SimNode | None = None) -> EntryId | None:
        if node is None:
            leaders = [
                n for n in self.nodes.values() if n.raw is not None and n.raw.role is Role.LEADER
            ]
            if not leaders:
                return None
            node = self.rng.choice(leaders)
        assert node.raw is not None
        self.proposals += 1
        data = b"%d:%d" % (self.seed, self.proposals)
        try:
            entry = node.raw.propose(data, self.rng.randint(1, 4))
        except RaftError as err:
            self.record("refused", str(err))
            return None
        self.record("propose", node.id, entry)
        node.begin_ready(self.now)
        return entry

    # -- liveness --------------------------------------------------------------------

    def liveness_bound(self) -> int:
        """Ticks a healed cluster may take to elect a leader and commit a new entry."""
        cfg = self.scenario.raft_config
        return 30 * cfg.election_ticks + 10 * self.net.max_delay + 60

    def catch_up_bound(self, backlog: int) -> int:
        """Ticks for voters ``backlog`` offsets behind to catch up.  At worst one entry of
        one offset per round trip: reordered appends are rejected, and a rejection drops
        the follower back to probing, one append per round trip, until the next ack."""
        round_trip = 2 * (self.net.max_delay + 1) + self.disk_delay_max + 1
        return self.liveness_bound() + backlog * round_trip

    def _heal(self) -> None:
        self.net.heal()
        self.net.drop_rate = 0.0
        self.net.dup_rate = 0.0
        self.net.max_delay = min(self.net.max_delay, 2)
        self.disk_delay_max = min(self.disk_delay_max, 1)
        self.nemesis.restarts = []
        for node in self.nodes.values():
            node.tick_rate = 1.0
            if not node.up and not node.decommissioned and node.incarnation > 0:
                node.start()
        self.detector.heal()
        self.idle = False
        self.record("heal")

    def _liveness(self) -> int:
        """After healing: a new entry commits within ``liveness_bound()``, then every voter
        learns it within ``catch_up_bound()`` of its backlog."""
        self._heal()
        healed = self.now
        self._quiet_liveness()
        if self.detector.mode is not None and self.rng.random() < 0.5:
            self._lose_leader()
        elif self._hangs_a_leader() and self.lease_rng.random() < 0.7:
            self._lose_leader(hang=True)
        start = self.now  # the commit phase has its own bound
        target: EntryId | None = None
        # A quorum may first have to catch up with the longest log before anything new
        # can commit: allow for that backlog at the slowest replication rate.
        up = [n.raw for n in self.nodes.values() if n.raw is not None]
        backlog = max(r.last_offset for r in up) - min(r.commit for r in up) if up else 0
        deadline = start + self.catch_up_bound(backlog)
        caught_up_by: int | None = None
        while self.now <= deadline:
            self._tick(chaos=False)
            # The operator (the controller) shuts a replica down once its removal is
            # committed; until then a removed node that never heard of its removal keeps
            # campaigning (thesis §4.2.3), which without pre-vote or check-quorum can
            # stall elections for ever.
            self._shut_down_removed(self.checker.committed_conf.members())
            leader = self.leader()
            if leader is None or leader.raw is None:
                continue
            status = leader.raw.status()
            if target is None or self._lost(target):
                target = self._propose(leader)
                continue
            committed = self.checker.committed_at(target.last_offset)
            if committed is None or committed[0].term != target.term:
                continue
            voters = status.conf.all_voters()
            if caught_up_by is None:
                backlog = target.last_offset - min(self._commit_of(v) for v in voters)
                caught_up_by = self.now + self.catch_up_bound(backlog)
                deadline = max(deadline, caught_up_by)
            if all(self._commit_of(v) >= target.last_offset for v in voters - self.lost):
                return self.now - healed
        phase = "commit a new entry" if caught_up_by is None else "bring every voter up to it"
        raise Violation(
            f"liveness: the healed cluster did not {phase} within {deadline - start} ticks "
            f"(target {target})"
        )

    def _quiet_liveness(self) -> None:
        """With no proposal at all, the up voters agree on one leader within
        ``liveness_bound()`` (a quiet group whose leader died must elect another without
        any client traffic to wake it); with quiescence, the whole group then goes quiet
        again once the voters have caught up (an idle group must end up costing nothing)."""
        deadline = self.now + self.liveness_bound()
        while self._agreed_leader() is None:
            if self.now > deadline:
                raise Violation("liveness: the healed, idle cluster agreed on no leader "
                                f"within {self.liveness_bound()} ticks")  # fmt: skip
            self._tick(chaos=False)
            self._shut_down_removed(self.checker.committed_conf.members())
        if not self.scenario.raft_config.quiesce:
            return
        up = [n.raw for n in self.nodes.values() if n.raw is not None]
        backlog = max(r.last_offset for r in up) - min(r.commit for r in up)
        deadline = self.now + self.catch_up_bound(backlog)
        while True:
            leader = self._agreed_leader()
            if leader is not None and self._quiet(leader):
                return
            if self.now > deadline:
                raise Violation(f"liveness: the healed, idle cluster did not go quiet within "
                                f"{self.catch_up_bound(backlog)} ticks")  # fmt: skip
            self._tick(chaos=False)
            self._shut_down_removed(self.checker.committed_conf.members())

    def _hangs_a_leader(self) -> bool:
        """Whether the liveness phase may hang the leader's group for good: with the lease
        on, and without quiescence (a quiet group whose leader hangs on a live broker waits
        for a proposal or the detector, by design: nothing of its own ticks)."""
        cfg = self.scenario.raft_config
        return self.scenario.vouch_lag is not None and not cfg.quiesce

    def _lose_leader(self, *, hang: bool = False) -> None:
        """The (quiet) leader dies for good, if a quorum of voters stays: the followers
        must elect another from the failure detector's word alone (quiet followers do not
        time out), then go quiet again. ``hang``: its group stops while its broker lives
        on and is vouched for: the followers' lease must run out (``vouched_lease``)."""
        deadline = self.now + self.liveness_bound()
        while (leader := self._agreed_leader()) is None or not self._caught_up(leader):
            if self.now > deadline:
                return  # not a settled group: losing a node could stall it for good
            self._tick(chaos=False)
        assert leader.raw is not None
        conf = leader.raw.conf
        others = {v: self.nodes[v].up for v in conf.all_voters() if v != leader.id}
        if vote_result(conf, others) is not VoteResult.WON:
            return
        if hang:
            leader.hang()
        else:
            leader.crash()
        self.lost.add(leader.id)
        self.record("lost", leader.id)
        self._quiet_liveness()

    def _caught_up(self, leader: SimNode) -> bool:
        """Every up member holds exactly the leader's log, all of it committed (then no
        stale configuration in anyone's log can make the survivors need the lost node)."""
        raw = leader.raw
        assert raw is not None
        last = raw.last_offset
        if raw.commit != last or raw.status().conf_pending:
            return False
        members = [self.nodes[m].raw for m in raw.conf.members()]
        return all(r.last_offset == last == r.commit for r in members if r is not None)

    def _agreed_leader(self) -> SimNode | None:
        """The leader every up voter of its configuration follows in its term, if any."""
        leader = self.leader()
        if leader is None or leader.raw is None:
            return None
        raw = leader.raw
        for v in raw.conf.all_voters():
            other = self.nodes[v].raw
            if other is not None and (other.term != raw.term or other.leader != leader.id):
                return None
        return leader

    def _quiet(self, leader: SimNode) -> bool:
        assert leader.raw is not None
        members = leader.raw.conf.members()
        return all(n.raw.quiesced for n in self.nodes.values() if n.id in members and n.raw)

    def _commit_of(self, node_id: int) -> int:
        raw = self.nodes[node_id].raw
        return -1 if raw is None else raw.commit

    def _shut_down_removed(self, members: frozenset[int]) -> None:
        for node in self.nodes.values():
            if node.id not in members and node.up:
                node.raw = None
                node.flight.clear()
                node.decommissioned = True
                self.record("shut-down", node.id)

    def _lost(self, target: EntryId) -> bool:
        """The proposal was overwritten, or its leader is gone before committing it."""
        committed = self.checker.committed_at(target.last_offset)
        if committed is not None:
            return committed[0].term != target.term
        leader = self.leader()
        return leader is None or leader.raw is None or leader.raw.term != target.term

    # -- reporting -------------------------------------------------------------------

    def _failure_text(self, err: BaseException) -> str:
        lines = [
            f"simulation seed {self.seed} failed at tick {self.now}: {err}",
            f"scenario: {self.scenario.describe()}",
            f"replay:   .venv/bin/python -m tests.replication.sim --seed {self.seed} --trace",
            "last events:",
        ]
        lines.extend("  " + _format_event(e) for e in list(self.events)[-60:])
        return "\n".join(lines)


def _format_event(event: tuple[object, ...]) -> str:
    now, kind, *rest = event
    if kind in ("send", "recv"):
        msg = rest[0]
        return f"t={now} {kind} {describe(msg)}"  # type: ignore[arg-type]
    return f"t={now} {kind} " + " ".join(str(r) for r in rest)


def run_seed(seed: int, *, trace: bool = False) -> SimResult:
    """Run one seed; raises SimulationFailure (with replay instructions) on a violation."""
    return Simulator(seed, trace=trace).run()
