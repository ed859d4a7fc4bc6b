"""The nemesis: injects the scenario's faults at random moments of the chaos phase.

Each action returns True if it did something (a fault counted in the summary).  Leader
transfers and membership changes go through the leader's public API, exactly as an
operator's or the controller's requests would, and may be refused (that is not a fault).
A ``move`` walks the group to a target voter set by logd's own plan
(``logd.cluster.move_plan.next_step``, issue 23), one step a tick from whoever leads, as
the partition mover does -- through crashes, partitions and the other membership changes;
a completed one counts as ``move-done``.

Not thread-safe; owned by the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logd.cluster.move_plan import StepKind, next_step
from replication import ConfChange, ConfChangeType, RaftError, RawNode, Role

if TYPE_CHECKING:
    from tests.replication.sim.node import SimNode
    from tests.replication.sim.simulator import Simulator

__all__ = ["Nemesis"]

_ADD_VOTER, _ADD_LEARNER, _REMOVE = (
    ConfChangeType.ADD_VOTER,
    ConfChangeType.ADD_LEARNER,
    ConfChangeType.REMOVE,
)


class Nemesis:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.counts: dict[str, int] = {}
        self.quiet_faults = 0  # faults injected while some node was quiet
        self.restarts: list[tuple[int, int]] = []  # (tick, node)
        self.promotions: list[tuple[int, int]] = []  # (tick, learner): an operator's follow-up
        #: A partition move in progress (issue 23): the voters it goes to; whoever leads
        #: takes its next step every tick (``move_plan.next_step``), as the mover does.
        self.move_target: frozenset[int] | None = None

    def act(self) -> None:
        self._promote_due()
        self._move_step()
        faults = self.sim.scenario.faults
        if not faults or self.rng.random() >= self.sim.scenario.fault_rate:
            return
        names = list(faults)
        name = self.rng.choices(names, weights=[faults[n] for n in names])[0]
        handler = getattr(self, "_" + name.replace("-", "_"))
        quiet = any(n.raw is not None and n.raw.quiesced for n in self.sim.nodes.values())
        if handler():
            self.quiet_faults += quiet
            self.counts[name] = self.counts.get(name, 0) + 1
            self.sim.record("fault", name)

    def restart_due(self, now: int) -> None:
        due = [n for t, n in self.restarts if t <= now]
        self.restarts = [(t, n) for t, n in self.restarts if t > now]
        for node_id in due:
            node = self.sim.nodes[node_id]
            if not node.up and not node.decommissioned:
                node.start()
                self.sim.record("restart", node_id)

    # -- network ---------------------------------------------------------------------

    def _partition(self) -> bool:
        ids = self._live_ids()
        if len(ids) < 2:
            return False
        self.rng.shuffle(ids)
        cut = self.rng.randint(1, len(ids) - 1)
        self.sim.net.partition(ids[:cut], ids[cut:])
        return True

    def _isolate(self) -> bool:
        ids = self._live_ids()
        leader = self.sim.leader()
        victim = leader.id if leader and self.rng.random() < 0.7 else self.rng.choice(ids)
        self.sim.net.partition([victim], [i for i in self.sim.nodes if i != victim])
        return True

    def _one_way(self) -> bool:
        ids = list(self.sim.nodes)
        for _ in range(self.rng.randint(1, len(ids))):
            a, b = self.rng.choice(ids), self.rng.choice(ids)
            if a != b:
                self.sim.net.block(a, b)
        return True

    def _heal(self) -> bool:
        self.sim.net.heal()
        return True

    def _net_rates(self) -> bool:
        net = self.sim.net
        net.drop_rate = self.rng.choice([0.0, 0.05, 0.2, 0.5])
        net.dup_rate = self.rng.choice([0.0, 0.05, 0.2])
        net.max_delay = self.rng.choice([0, 1, 3, 6])
        return True

    # -- nodes -----------------------------------------------------------------------

    def _crash(self) -> bool:
        up = [n for n in self.sim.nodes.values() if n.up]
        if not up:
            return False
        leader = self.sim.leader()
        victim = leader if leader and self.rng.random() < 0.4 else self.rng.choice(up)
        victim.crash()
        downtime = self.rng.randint(1, 4 * self.sim.scenario.raft_config.election_ticks)
        self.restarts.append((self.sim.now + downtime, victim.id))
        return True

    def _hang(self) -> bool:
        """The group stops on a node (often the leader) whose broker lives on and stays
        vouched for: the lease must not keep its followers from replacing it."""
        up = [n for n in self.sim.nodes.values() if n.up]
        if not up:
            return False
        leader = self.sim.leader()
        victim = leader if leader and self.rng.random() < 0.7 else self.rng.choice(up)
        victim.hang()
        downtime = self.rng.randint(1, 8 * self.sim.scenario.raft_config.election_ticks)
        self.restarts.append((self.sim.now + downtime, victim.id))
        return True

    def _clock_skew(self) -> bool:
        node = self.rng.choice(list(self.sim.nodes.values()))
        node.tick_rate = self.rng.choice([0.3, 0.6, 1.0])
        return True

    def _slow_disk(self) -> bool:
        self.sim.disk_delay_max = self.rng.choice([0, 2, 5])
        return True

    def _compact(self) -> bool:
        node = self.rng.choice(list(self.sim.nodes.values()))
        return node.compact()

    # -- through the leader's API ------------------------------------------------------

    def _transfer(self) -> bool:
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        voters = sorted(raw.conf.voters - {leader.id})
        if not voters:
            return False
        return self._try(lambda: raw.transfer_leadership(self.rng.choice(voters)))

    def _add_learner(self) -> bool:
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        candidates = [i for i in self.sim.nodes if i not in raw.conf.members()]
        if not candidates:
            return False
        node = self.sim.nodes[self.rng.choice(candidates)]
        node.decommissioned = False
        if not node.up:
            node.start()
        if not self._change(raw, [ConfChange(_ADD_LEARNER, node.id)]):
            return False
        if "promote" in self.sim.scenario.faults or "joint" in self.sim.scenario.faults:
            self.promotions.append((self.sim.now + self.rng.randint(3, 40), node.id))
        return True

    def _promote_due(self) -> None:
        """Try to promote learners added a while ago (refused until they caught up)."""
        now = self.sim.now
        due = [n for t, n in self.promotions if t <= now]
        self.promotions = [(t, n) for t, n in self.promotions if t > now]
        leader = self.sim.leader()
        for node_id in due:
            if leader is None or node_id not in self._raw(leader).conf.learners:
                continue
            if self._change(self._raw(leader), [ConfChange(_ADD_VOTER, node_id)]):
                self.counts["promote"] = self.counts.get("promote", 0) + 1
                self.sim.record("fault", "promote", node_id)
            elif self.rng.random() < 0.7:
                self.promotions.append((now + self.rng.randint(3, 20), node_id))  # retry

    def _move(self) -> bool:
        """Start a move to a random voter set of 1-3 nodes (spares and removed nodes too,
        as a target broker of a real move may be new to the group)."""
        if self.move_target is not None:
            return False  # one move per partition at a time
        ids = sorted(self.sim.nodes)
        target = frozenset(self.rng.sample(ids, self.rng.randint(1, min(3, len(ids)))))
        for node_id in target:
            node = self.sim.nodes[node_id]
            node.decommissioned = False
            if not node.up:
                node.start()
        self.move_target = target
        return True

    def _move_step(self) -> None:
        target = self.move_target
        leader = self.sim.leader()
        if target is None or leader is None or leader.raw is None:
            return
        raw = leader.raw
        step = next_step(raw.status(), target)
        if step.kind is StepKind.DONE:
            self.move_target = None
            self.counts["move-done"] = self.counts.get("move-done", 0) + 1
            self.sim.record("move-done", sorted(target))
        elif step.kind is StepKind.CHANGE:
            self._change(raw, list(step.changes))
        elif step.kind is StepKind.TRANSFER:
            assert step.to is not None
            to = step.to
            self._try(lambda: raw.transfer_leadership(to))

    def _throttle(self) -> bool:
        """Throttle a member's catch-up (binding only while it is a learner), or lift it.
        A rate of at least one proposal's data a tick: the liveness bounds allow a round
        trip per offset, and a throttle lower than the traffic would never catch up."""
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        members = sorted(raw.conf.learners) or sorted(raw.conf.members() - {leader.id})
        if not members:
            return False
        rate = self.rng.choice([0, 16, 64])
        return self._try(lambda: raw.throttle(self.rng.choice(members), rate))

    def _promote(self) -> bool:
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        learners = sorted(raw.conf.learners)
        if not learners:
            return False
        return self._change(raw, [ConfChange(_ADD_VOTER, self.rng.choice(learners))])

    def _remove(self) -> bool:
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        members = sorted(raw.conf.members())
        victim = self.rng.choice(members)
        if victim in raw.conf.voters and len(raw.conf.voters) <= 1:
            return False
        return self._change(raw, [ConfChange(_REMOVE, victim)])

    def _joint(self) -> bool:
        leader = self.sim.leader()
        if leader is None:
            return False
        raw = self._raw(leader)
        conf = raw.conf
        voters = sorted(conf.voters)
        changes = []
        if conf.learners:
            changes.append(ConfChange(_ADD_VOTER, self.rng.choice(sorted(conf.learners))))
        if len(voters) > 1:
            kind = self.rng.choice([_REMOVE, _ADD_LEARNER])
            changes.append(ConfChange(kind, self.rng.choice(voters)))
        if not changes:
            return False
        return self._change(raw, changes, joint=True)

    # -- helpers ---------------------------------------------------------------------

    def _change(
        self, raw: RawNode, changes: list[ConfChange], *, joint: bool | None = None
    ) -> bool:
        return self._try(lambda: raw.propose_conf_change(changes, joint=joint))

    def _try(self, action: object) -> bool:
        assert callable(action)
        try:
            action()
        except RaftError as err:
            self.sim.record("refused", str(err))
            return False
        return True

    def _raw(self, node: SimNode) -> RawNode:
        assert node.raw is not None and node.raw.role is Role.LEADER
        return node.raw

    def _live_ids(self) -> list[int]:
        return [n.id for n in self.sim.nodes.values() if not n.decommissioned]
