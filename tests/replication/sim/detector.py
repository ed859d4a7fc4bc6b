"""The failure detector the simulated drivers feed their nodes (``RawNode.set_down_peers``).

In logd the controller's per-broker liveness (and lost connections) tells each broker
which peers are down; quiet groups (``replication/quiesce.py``) rely on it to notice a
dead leader.  Here every up node has its own view, refreshed at random moments
(``detect_rate`` per tick: a slow or fast detector), from what it could know:

* ``crashes``: the nodes that are down (crashed, or shut down after their removal) --
  not a hung one (its group stopped, its broker lives: ``SimNode.hang``);
* ``links``: those, and the nodes it cannot exchange messages with (a cut link either
  way), as a per-node heartbeat would see them.

During the chaos phase the detector may also raise false alarms (a live node reported
down for a while).  After healing it is exact and prompt, as the liveness phase needs.

Not thread-safe; owned by the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.replication.sim.simulator import Simulator

__all__ = ["Detector"]


class Detector:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.mode = sim.scenario.detector
        self.rate = sim.scenario.detect_rate
        self.false_alarms = sim.scenario.false_alarm_rate
        self.changes = 0
        #: node -> (incarnation, the view its current RawNode was given)
        self._views: dict[int, tuple[int, frozenset[int]]] = {}

    def heal(self) -> None:
        self.rate = 1.0
        self.false_alarms = 0.0

    def refresh(self) -> None:
        """Maybe update each up node's view (one tick of the detector)."""
        if self.mode is None:
            return
        sim = self.sim
        rng = sim.rng
        for node in sim.nodes.values():
            raw = node.raw
            if raw is None or (self.rate < 1.0 and rng.random() >= self.rate):
                continue
            view = self._truth(node.id)
            if self.false_alarms and rng.random() < self.false_alarms:
                view |= {rng.choice(list(sim.nodes))} - {node.id}
            view_set = frozenset(view)
            held = self._views.get(node.id)
            before = held[1] if held is not None and held[0] == node.incarnation else frozenset()
            if view_set != before:
                self._views[node.id] = (node.incarnation, view_set)
                self.changes += 1
                sim.record("detector", node.id, sorted(view_set))
                raw.set_down_peers(view_set)

    def view(self, node: int) -> frozenset[int]:
        """What ``node``'s current incarnation was last told."""
        held = self._views.get(node)
        if held is None or held[0] != self.sim.nodes[node].incarnation:
            return frozenset()
        return held[1]

    def _truth(self, me: int) -> set[int]:
        sim = self.sim
        down = {n.id for n in sim.nodes.values() if not n.broker_up and n.id != me}
        if self.mode == "links":
            blocked = sim.net.blocked
            down |= {n for n in sim.nodes if n != me and ((n, me) in blocked or (me, n) in blocked)}
        return down
