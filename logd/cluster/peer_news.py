"""What a broker's Raft groups hear about their peers: who is taken as down, and telling
exactly the groups it concerns.

Quiet groups (``replication/quiesce.py``) do not time out, so this is how they learn that a
leader died: the controller's liveness (:meth:`PeerNews.declare`), streams that fail or end
(:meth:`PeerNews.report_unreachable`), writes that go through again
(:meth:`PeerNews.reachable`), and the frames heard each tick (:meth:`PeerNews.tick`) feed
``DownPeers`` (``down_peers.py``: which peers are down, and why); every peer whose state
changed has its groups -- only those, found through the index kept here -- hear the new
view, and a quiet group the news does not concern sleeps on. Silence is judged in
``ReadClock`` time (``silence.py``): this broker's own stalled loop ages no peer, and the
controller's judgment (:meth:`PeerNews.alive`) also asks that others were heard meanwhile.

Split from the driver (``driver.py``), which owns one and calls it on the broker's loop;
times come from the driver's loop.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Final

from logd.cluster.down_peers import DownPeers
from logd.cluster.group import RaftGroup
from logd.cluster.silence import ReadClock
from replication import Role

__all__ = ["STALL_LOG_S", "STALL_SLACK_S", "PeerNews"]

_log = logging.getLogger(__name__)

#: A tick that wakes later than this is a stalled loop: the excess does not age the peers
#: (``silence.ReadClock``).
STALL_SLACK_S: Final = 0.5
#: Stalls of a second or more are logged at most once in this long (how many, the longest):
#: a saturated broker stalls every few seconds (37-170 lines per broker in 17 min at 10,000
#: partitions, issue 21).
STALL_LOG_S: Final = 10.0


class PeerNews:
    """The peers taken as down, the groups of each peer, and telling them. Owned by the
    driver; ``mark`` schedules a group's pass (and wakes it), ``wall`` is the loop's clock."""

    def __init__(
        self,
        node_id: int,
        suspect_s: float,
        alive_s: float,
        mark: Callable[[RaftGroup], None],
        wall: Callable[[], float],
    ) -> None:
        self.node_id = node_id
        self._mark = mark
        self._wall = wall
        #: peer -> the groups it is a member of (logd's groups never change members).
        self.by_peer: dict[int, set[RaftGroup]] = collections.defaultdict(set)
        self._peers = DownPeers(node_id, suspect_s, alive_s)
        self._spared_logged: frozenset[int] = frozenset()
        #: The time peers' silence is judged in: it stops while this loop is stalled.
        self.read_clock = ReadClock(STALL_SLACK_S)
        #: Peers whose frames arrived since the last tick (their brokers are alive).
        self.heard: set[int] = set()
        #: Unreachable reports taken (metrics; logged by the driver).
        self.unreachable_reports = 0
        #: Stalls of a second or more not logged yet: (how many, the longest, since when).
        self._stalls = (0, 0.0, -STALL_LOG_S)

    @property
    def down(self) -> frozenset[int]:
        """The peers taken as down (``down_peers.py``)."""
        return self._peers.down

    def read_now(self) -> float:
        return self.read_clock.now(self._wall())

    def alive(self) -> frozenset[int]:
        """The peers heard from and not silent (``silence.py``: judged against this
        loop's own reading); the controller declares none of them down (``liveness.py``)."""
        return self._peers.not_silent(self.read_now()).union(self.heard)  # + since the tick

    # -- the index ----------------------------------------------------------------------

    def index(self, group: RaftGroup) -> None:
        """Index ``group`` under the members of its configuration in force: a move
        (issue 23) changes them, and lost contact must reach the new members' groups;
        a joining member's state is told at once."""
        peers = group.node.conf.members() - {self.node_id}
        if peers == group.peers:
            return
        for peer in group.peers - peers:
            self.by_peer[peer].discard(group)
        joined = peers - group.peers
        for peer in joined:
            self.by_peer[peer].add(group)
        group.peers = frozenset(peers)
        if joined:
            # The group heard down news of its members only: what it believes of a peer
            # that joins now may be stale (down when it left, back up since).
            group.node.set_down_peers(self._peers.down)

    def unindex(self, group: RaftGroup) -> None:
        for peer in group.peers:
            self.by_peer[peer].discard(group)
        group.peers = frozenset()

    # -- news -----------------------------------------------------------------------------

    def report_unreachable(
        self, peer: int, *, connected: bool = False, slow: bool = False, why: str = ""
    ) -> None:
        """The transport lost ``peer`` (``connected``: it reconnected, maybe restarted;
        ``slow``: its send queue is full): it is suspected down (``down_peers.py``), its
        groups' leaders probe it again, and quiet followers it led wake (quiesce.py) -- at
        most once a second while it stays unreachable, never while a slow peer is heard."""
        changed, tell = self._peers.lost(
            peer, self.read_now(), connected=connected, slow=slow, why=why
        )
        self._tell(changed)
        if not tell:
            return
        self.unreachable_reports += 1
        told = 0
        for group in self.by_peer.get(peer, ()):
            node = group.node
            if node.role is Role.LEADER or node.leader == peer:
                node.report_unreachable(peer)
                self._mark(group)
                told += 1
        if connected and told:  # (a loss says so in the down line; a new stream did not)
            _log.info("peer %d opened a new stream (restarted or reconnected): %d of its "
                      "groups probe it or look for their leader", peer, told)  # fmt: skip

    def reachable(self, peer: int) -> None:
        """A write to ``peer`` went through again (or it connected): no longer suspected."""
        self._tell(self._peers.reachable(peer))

    def declare(self, down: frozenset[int]) -> None:
        """The controller's liveness changed: the groups of every peer whose state changed
        hear it (a quiet group wakes; followers of a dead leader campaign)."""
        self._tell(self._peers.declare(down))

    def take_heard(self) -> frozenset[int]:
        """The peers heard since the last call (a tick's worth)."""
        heard, self.heard = frozenset(self.heard), set()
        return heard

    def vouched(self, heard: frozenset[int]) -> frozenset[int]:
        """The peers a leader counts as heard from this tick (``RawNode.heard_from``:
        check-quorum, and the ISR): those ``heard`` and those heard within ``alive_s``
        (ReadClock time) that are not taken as down. A follower whose whole loop stalls
        for a few seconds (hosting thousands of logs on a loaded machine) is not gone:
        counting only the frames of the last two election timeouts deposed the leaders of
        every group it followed and restarted thousands of elections (issue 21, 10,000
        partitions: 1,353 check-quorum step-downs on one broker in 4 minutes). A broken
        stream, a blocked link or the controller's word still counts at once."""
        return heard | (self._peers.alive(self.read_now()) - self._peers.down)

    def tick(self, heard: frozenset[int]) -> None:
        """After a tick: ``heard`` spoke; suspicions and silences age."""
        self._tell(self._peers.heard(heard, self.read_now()))

    def wait(self, due: float) -> None:
        """The tick task sleeps until ``due`` (the loop's clock)."""
        self.read_clock.wait(due)

    def woke(self) -> None:
        """The tick task runs again: a stall beyond the slack is not the peers' silence."""
        now = self._wall()
        stalled = self.read_clock.woke(now)
        count, longest, since = self._stalls
        if stalled >= 1.0:
            count, longest = count + 1, max(longest, stalled)
        if count and now - since >= STALL_LOG_S:
            more = f" ({count} stalls of 1 s or more since the last line)" if count > 1 else ""
            _log.info("event loop stalled %.1f s%s: not counted as peers' silence", longest, more)
            count, longest, since = 0, 0.0, now
        self._stalls = (count, longest, since)

    def _tell(self, changed: frozenset[int]) -> None:
        """The groups of every peer in ``changed`` hear who is down now."""
        peers = self._peers
        if not changed:
            if peers.spared != self._spared_logged:  # a false alarm ignored: say so
                self._spared_logged = peers.spared
                _log.info("peers taken as down: %s", peers.describe())
            return
        self._spared_logged = peers.spared
        touched: set[RaftGroup] = set()
        for peer in changed:
            touched |= self.by_peer.get(peer, set())
        woken = 0
        for group in touched:
            group.node.set_down_peers(peers.down)
            if not group.node.quiesced:  # a quiet group the news does not concern sleeps on
                woken += 1
                self._mark(group)
        _log.info("peers taken as down now: %s (%d groups told, %d awake)",
                  peers.describe(), len(touched), woken)  # fmt: skip
