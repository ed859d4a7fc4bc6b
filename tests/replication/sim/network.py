"""A fake network: drops, delays, reorders and duplicates messages; partitions links.

Every message gets a delivery tick ``now + delay`` and a random tie-break, so messages
overtake each other (reordering) as they would over several connections.  Links can be
cut one way (``block(a, b)``: a's messages to b are lost) or both ways; a cut made while
messages are in flight drops them at delivery too.

Not thread-safe; owned by the simulator.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from replication import Message

__all__ = ["FakeNetwork", "NetworkStats"]


@dataclass
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    blocked: int = 0


class FakeNetwork:
    """In-flight messages ordered by delivery tick; faults drawn from one seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._queue: list[tuple[int, float, int, Message]] = []
        self._seq = 0
        self.drop_rate = 0.0
        self.dup_rate = 0.0
        self.max_delay = 1
        self.blocked: set[tuple[int, int]] = set()
        self.stats = NetworkStats()

    def send(self, msg: Message, now: int) -> int | None:
        """Queue ``msg``; the tick it is due, or None if it is lost at once."""
        self.stats.sent += 1
        if (msg.src, msg.dst) in self.blocked:
            self.stats.blocked += 1
            return None
        rng = self._rng
        if self.drop_rate and rng.random() < self.drop_rate:
            self.stats.dropped += 1
            return None
        at = now + rng.randint(0, self.max_delay)
        self._push(msg, at)
        if self.dup_rate and rng.random() < self.dup_rate:
            self.stats.duplicated += 1
            self._push(msg, now + rng.randint(0, self.max_delay + 2))
        return at

    def _push(self, msg: Message, at: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._rng.random(), self._seq, msg))

    def pop_due(self, now: int) -> Message | None:
        """The next message due at or before ``now`` whose link is still up."""
        queue = self._queue
        while queue and queue[0][0] <= now:
            msg = heapq.heappop(queue)[3]
            if (msg.src, msg.dst) in self.blocked:
                self.stats.blocked += 1
                continue
            self.stats.delivered += 1
            return msg
        return None

    def in_flight(self) -> int:
        return len(self._queue)

    # -- partitions ------------------------------------------------------------------

    def partition(self, side_a: list[int], side_b: list[int]) -> None:
        """Cut every link between the two sides, both ways."""
        for a in side_a:
            for b in side_b:
                self.blocked.add((a, b))
                self.blocked.add((b, a))

    def block(self, src: int, dst: int) -> None:
        """Cut the link one way: ``src`` can no longer reach ``dst``."""
        self.blocked.add((src, dst))

    def heal(self) -> None:
        self.blocked.clear()
