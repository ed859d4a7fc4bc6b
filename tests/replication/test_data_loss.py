"""A follower that lost acknowledged entries is repaired once the leader hears of it."""

from __future__ import annotations

from replication import MemoryStorage, RawNode
from tests.replication.cluster import Cluster


def _propose(c: Cluster, leader: int, n: int) -> None:
    for i in range(n):
        c.raw(leader).propose(b"v%d" % i)
    c.stabilize()


def test_a_follower_that_lost_its_tail_gets_it_again_after_report_data_loss() -> None:
    c = Cluster()
    c.add_nodes([1, 2, 3], voters=[1, 2, 3])
    c.elect(1)
    _propose(c, 1, 5)
    full = [(e.base_offset, e.term, bytes(e.data)) for e in c.entries(1)]
    # Node 3's disk loses its last three entries (a cut segment) while it is down.
    node = c.nodes[3]
    kept = node.storage.all_entries()[:-3]
    storage = MemoryStorage(node.storage.snapshot().meta.conf_state)
    storage.append(kept)
    storage.set_hard_state(node.storage.hard_state)
    node.storage = storage
    node.raw = RawNode(node.config, storage)
    # The leader still believes node 3 holds everything: heartbeats repair nothing.
    c.tick(1, c.nodes[1].config.heartbeat_ticks)
    c.stabilize()
    assert len(c.entries(3)) == len(kept)
    c.raw(1).report_data_loss(3, kept[-1].last_offset)
    c.raw(1).report_data_loss(3, kept[-1].last_offset)  # a repeat changes nothing
    c.stabilize()
    assert [(e.base_offset, e.term, bytes(e.data)) for e in c.entries(3)] == full
    # Once repaired, a stale report (below what it holds now) is ignored.
    assert c.raw(1).status().progress[3].match == full[-1][0]
    c.raw(1).report_data_loss(3, 10**9)
    assert c.raw(1).status().progress[3].match == full[-1][0]


def test_only_a_leader_acts_on_a_report() -> None:
    c = Cluster()
    c.add_nodes([1, 2], voters=[1, 2])
    c.elect(1)
    c.raw(2).report_data_loss(1, -1)  # a follower ignores it
    c.raw(1).report_data_loss(1, -1)  # and a leader about itself
    assert c.raw(1).status().progress[1].match >= 0
