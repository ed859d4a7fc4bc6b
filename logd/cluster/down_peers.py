"""Which peers this broker's Raft groups take as down: those the controller's liveness
declares down, and those the transport cannot reach -- but not a peer whose Raft frames
keep arriving.

Quiet groups (``replication/quiesce.py``) do not time out, so this is how they learn that a
leader died: the driver (``driver.py``) tells the groups of every peer whose state changed.
A peer the transport failed to reach is *suspected* down until a write to it goes through,
it connects again, or ``suspect_s`` passes without another failed send: leaders may go
quiet without it at once rather than only after the controller's session timeout (all the
groups of a killed broker's peers stayed awake until then, competing with the elections that
replace it). The expiry makes a quiet leader look again at a peer nobody declared down (a
restarted broker whose new stream came before the old one's end; a cut nobody else saw).

False alarms (issue 21): a broker busy with thousands of elections answers late -- its
heartbeats reach the controller past the session timeout, its send queue here fills up --
yet it is alive, and taking it as down woke every group it is in and restarted the
elections. So a peer whose frames arrived here within ``alive_s`` (the session timeout) is
not taken as down for the controller's declaration nor for a full send queue (``slow``);
it is once its frames stop for that long (times here are the driver's ``ReadClock`` time,
which stops while this broker's loop is stalled: ``silence.py``; the controller's own
judgment, :meth:`DownPeers.not_silent`, also asks that others were heard meanwhile). A
broken stream still counts at once: a killed broker's connections end with it, and that
is what makes failover fast.

While a peer stays unreachable the transport says so at every failed send; its groups hear
it at most once in :data:`UNREACHABLE_REPEAT_S` -- telling thousands of groups each time was
most of a broker's work.

Ownership: one per driver, on the broker's event loop; pure (times are passed in).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from logd.cluster.silence import silent

__all__ = ["UNREACHABLE_REPEAT_S", "DownPeers"]

#: A peer's groups hear at most once in this long that it is (still) unreachable.
UNREACHABLE_REPEAT_S: Final = 1.0
_NEVER: Final = -1e9


class DownPeers:
    """The peers taken as down (:attr:`down`). Every method returns the peers whose state
    changed: their groups must hear the new :attr:`down`."""

    def __init__(self, node_id: int, suspect_s: float, alive_s: float = 4.5) -> None:
        self.node_id = node_id
        self.suspect_s = suspect_s
        self.alive_s = alive_s
        self.down: frozenset[int] = frozenset()
        #: Declared or suspected down but heard within ``alive_s``: not taken as down.
        self.spared: frozenset[int] = frozenset()
        self._declared: frozenset[int] = frozenset()
        #: peer -> when the transport last failed to reach it.
        self._unreachable: dict[int, float] = {}
        #: The suspected peers whose last failure was a full send queue, not a broken link.
        self._slow: set[int] = set()
        #: peer -> why the transport last failed to reach it (for the log).
        self._why: dict[int, str] = {}
        #: peer -> when its frames last arrived here.
        self._heard: dict[int, float] = {}
        #: peer -> when its groups last heard it was unreachable.
        self._told: dict[int, float] = {}
        self._now = _NEVER

    def declare(self, down: frozenset[int]) -> frozenset[int]:
        """The controller's liveness: these brokers are down."""
        self._declared = down - {self.node_id}
        return self._update()

    def heard(self, peers: Iterable[int], now: float) -> frozenset[int]:
        """Frames from ``peers`` arrived (they are alive); also ages what was heard before."""
        for peer in peers:
            self._heard[peer] = now
        return self.expire(now)

    def lost(
        self, peer: int, now: float, *, connected: bool, slow: bool = False, why: str = ""
    ) -> tuple[frozenset[int], bool]:
        """The transport lost ``peer`` (``connected``: it reconnected, maybe restarted;
        ``slow``: its send queue is full, the link still up). Returns the changed peers,
        and whether ``peer``'s groups are to hear of it (not again within
        :data:`UNREACHABLE_REPEAT_S` while it stays unreachable; never while a slow peer
        is heard from)."""
        self._now = max(self._now, now)
        if connected:
            changed = self.reachable(peer)
        else:
            suspected = peer in self._unreachable
            self._unreachable[peer] = now
            self._why[peer] = why
            if slow:
                self._slow.add(peer)
            else:
                self._slow.discard(peer)
            changed = self._update() if not suspected or peer not in self.down else frozenset()
            if peer not in self.down:
                return changed, False  # heard from: its groups' leaders need not probe
        if not connected and now - self._told.get(peer, _NEVER) < UNREACHABLE_REPEAT_S:
            return changed, False
        self._told[peer] = _NEVER if connected else now
        return changed, True

    def reachable(self, peer: int) -> frozenset[int]:
        """A write to ``peer`` went through again (or it connected): no longer suspected."""
        if self._unreachable.pop(peer, None) is None:
            return frozenset()
        self._slow.discard(peer)
        return self._update()

    def expire(self, now: float) -> frozenset[int]:
        """Forget suspicions older than ``suspect_s``: those peers' groups look again
        (those still failing suspect it again at once); a spared peer not heard from
        within ``alive_s`` is down now."""
        self._now = max(self._now, now)
        if self._unreachable:
            old = now - self.suspect_s
            for peer in [p for p, at in self._unreachable.items() if at < old]:
                del self._unreachable[peer]
                self._slow.discard(peer)
        return self._update()

    def alive(self, now: float) -> frozenset[int]:
        """The peers whose frames arrived within ``alive_s`` of ``now``."""
        since = now - self.alive_s
        return frozenset(p for p, at in self._heard.items() if at >= since)

    def not_silent(self, now: float) -> frozenset[int]:
        """The peers heard from and not silent (``silence.silent``): heard within
        ``alive_s`` of ``now``, or since when no other peer was heard ``alive_s`` later --
        the controller's judgment, which hears every broker over the metadata group (a
        broker that hears only the peer in question has nothing to compare it with)."""
        heard = self._heard
        return frozenset(heard.keys() - silent(heard, now, self.alive_s))

    def describe(self) -> str:
        """Who is taken as down and why, and who is spared (heard from): for the log."""
        text = self._list(self.down) or "none"
        if self.spared:
            spared = self._list(self.spared)
            text += f"; heard within {self.alive_s:g} s, not taken as down: {spared}"
        return text

    def _list(self, peers: frozenset[int]) -> str:
        return ", ".join(f"{p} ({self._why_down(p)})" for p in sorted(peers))

    def _why_down(self, peer: int) -> str:
        sources = []
        if peer in self._declared:
            sources.append("declared down by the controller")
        if peer in self._unreachable:
            kind = "send queue full" if peer in self._slow else "unreachable"
            sources.append(f"{kind}: {self._why.get(peer) or '?'}")
        return "; ".join(sources) or "?"

    def _update(self) -> frozenset[int]:
        alive = self.alive(self._now) if self._declared or self._slow else frozenset()
        broken = {p for p in self._unreachable if p not in self._slow or p not in alive}
        down = (self._declared - alive).union(broken)
        self.spared = (self._declared | self._slow) - down
        changed = down ^ self.down
        if changed:  # the same object while unchanged: cheap to compare
            self.down = down
        return changed
