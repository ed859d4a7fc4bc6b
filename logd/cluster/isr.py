"""In-sync replicas of a partition this broker leads (Kafka's ISR, computed from Raft).

Kafka: a follower is in sync unless it has not caught up to the leader's log end for more
than ``replica.lag.time.max.ms``. Raft pipelines appends, so under load a follower's match
offset is rarely *equal* to the leader's last offset at the instant we look; what matters
is that it reached where the leader was a bounded time ago. So the leader samples its last
offset (every broker heartbeat); a follower is in sync when its match offset has reached
the oldest sample of the last ``lag_max_ms`` and the leader heard from it within an
election timeout (``recent_active``, seen false at two samples in a row, since the core
clears it at every election timeout until the next answer: a dead follower leaves the ISR
in about a second, not after the whole lag window -- a departure from Kafka, which waits
the full window). The leader itself is always in sync.

Joining is stricter than staying, as in Kafka (a follower joins once its log end reaches
the high watermark): a follower out of the set joins once its match reaches the commit
offset of the previous sample (one broker heartbeat ago). The lag rule alone let a follower
back from a restart rejoin at once: the leader's match for it predates the restart (a
follower that lost data reports so only when it first answers), and the oldest sample of the
lag window is often older than the writes it missed -- a replica reported in sync lacked
them.

Pure bookkeeping over ``RawNode.status()``; owned by the partition's replica (the loop).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from replication import Status

__all__ = ["IsrTracker"]


class IsrTracker:
    """Samples of the leader's last offset and the in-sync set they give."""

    def __init__(self, replicas: Sequence[int], me: int, lag_max_ms: int) -> None:
        self.replicas = tuple(replicas)
        self.me = me
        self.lag_max_ms = lag_max_ms
        self._samples: collections.deque[tuple[int, int]] = collections.deque()
        #: The commit offset at the previous sample: what a follower must reach to join.
        self._join_floor: int | None = None
        self.in_sync: tuple[int, ...] = (me,) if me in replicas else ()
        self._quiet: set[int] = set()

    def reset(self, leading: bool) -> None:
        self._samples.clear()
        self._quiet.clear()
        self._join_floor = None
        self.in_sync = (self.me,) if leading and self.me in self.replicas else ()

    def sample(self, status: Status, now_ms: int) -> bool:
        """Record the leader's state; True if the in-sync set changed. A quiet leader's
        ``recent_active`` is exact (quiesce.py: live followers caught up, down ones not):
        no second sample is waited for."""
        samples = self._samples
        samples.append((now_ms, status.last_offset))
        while len(samples) > 1 and samples[1][0] <= now_ms - self.lag_max_ms:
            samples.popleft()
        floor = samples[0][1]
        join_floor = status.commit if self._join_floor is None else self._join_floor
        self._join_floor = status.commit
        was_in_sync = set(self.in_sync)
        in_sync = []
        # The voters of the group's configuration in force: a move (issue 23) changes them
        # under a tracker built with the replicas of the partition's creation.
        voters = status.conf.all_voters()
        for replica in sorted(voters) if voters else self.replicas:
            if replica == self.me:
                in_sync.append(replica)
                continue
            pr = status.progress.get(replica)
            if pr is None:
                continue
            alive = pr.recent_active or (replica not in self._quiet and not status.quiesced)
            if pr.recent_active:
                self._quiet.discard(replica)
            else:
                self._quiet.add(replica)
            needed = floor if replica in was_in_sync else max(floor, join_floor)
            if alive and pr.match >= needed:
                in_sync.append(replica)
        result = tuple(in_sync)
        changed = result != self.in_sync
        self.in_sync = result
        return changed
