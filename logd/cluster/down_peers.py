"""Which peers this broker's Raft groups take as down: those the controller's liveness
declares down, and those the transport cannot reach.

Quiet groups (``replication/quiesce.py``) do not time out, so this is how they learn that a
leader died: the driver (``driver.py``) tells the groups of every peer whose state changed.
A peer the transport failed to reach is *suspected* down until a write to it goes through,
it connects again, or ``suspect_s`` passes without another failed send: leaders may go
quiet without it at once rather than only after the controller's session timeout (all the
groups of a killed broker's peers stayed awake until then, competing with the elections that
replace it). The expiry makes a quiet leader look again at a peer nobody declared down (a
restarted broker whose new stream came before the old one's end; a cut nobody else saw).

While a peer stays unreachable the transport says so at every failed send; its groups hear
it at most once in :data:`UNREACHABLE_REPEAT_S` -- telling thousands of groups each time was
most of a broker's work.

Ownership: one per driver, on the broker's event loop; pure (times are passed in).
"""

from __future__ import annotations

from typing import Final

__all__ = ["UNREACHABLE_REPEAT_S", "DownPeers"]

#: A peer's groups hear at most once in this long that it is (still) unreachable.
UNREACHABLE_REPEAT_S: Final = 1.0
_NEVER: Final = -1e9


class DownPeers:
    """The peers taken as down (:attr:`down`). Every method returns the peers whose state
    changed: their groups must hear the new :attr:`down`."""

    def __init__(self, node_id: int, suspect_s: float) -> None:
        self.node_id = node_id
        self.suspect_s = suspect_s
        self.down: frozenset[int] = frozenset()
        self._declared: frozenset[int] = frozenset()
        #: peer -> when the transport last failed to reach it.
        self._unreachable: dict[int, float] = {}
        #: peer -> when its groups last heard it was unreachable.
        self._told: dict[int, float] = {}

    def declare(self, down: frozenset[int]) -> frozenset[int]:
        """The controller's liveness: these brokers are down."""
        self._declared = down - {self.node_id}
        return self._update()

    def lost(self, peer: int, now: float, *, connected: bool) -> tuple[frozenset[int], bool]:
        """The transport lost ``peer`` (``connected``: it reconnected, maybe restarted).
        Returns the changed peers, and whether ``peer``'s groups are to hear of it (not
        again within :data:`UNREACHABLE_REPEAT_S` while it stays unreachable)."""
        if connected:
            changed = self.reachable(peer)
        else:
            suspected = peer in self._unreachable
            self._unreachable[peer] = now
            changed = frozenset() if suspected else self._update()
        if not connected and now - self._told.get(peer, _NEVER) < UNREACHABLE_REPEAT_S:
            return changed, False
        self._told[peer] = _NEVER if connected else now
        return changed, True

    def reachable(self, peer: int) -> frozenset[int]:
        """A write to ``peer`` went through again (or it connected): no longer suspected."""
        if self._unreachable.pop(peer, None) is None:
            return frozenset()
        return self._update()

    def expire(self, now: float) -> frozenset[int]:
        """Forget suspicions older than ``suspect_s``: those peers' groups look again
        (those still failing suspect it again at once)."""
        if not self._unreachable:
            return frozenset()
        old = now - self.suspect_s
        expired = [peer for peer, at in self._unreachable.items() if at < old]
        for peer in expired:
            del self._unreachable[peer]
        return self._update() if expired else frozenset()

    def _update(self) -> frozenset[int]:
        down = self._declared.union(self._unreachable)
        changed, self.down = down ^ self.down, down
        return changed
