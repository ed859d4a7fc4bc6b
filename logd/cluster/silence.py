"""When a peer counts as silent: judged against this broker's own reading, not wall time.

A broker hears its peers by reading their frames on its event loop. When that loop falls
behind -- a pass over thousands of groups, a huge metadata entry applied, a loaded machine
-- every peer's frames wait in buffers, and by wall time every peer looks silent at once.
A controller that judged liveness so declared live brokers down whenever *it* fell behind
(issue 21, 10,000 partitions: brokers "silent" for 7-700 s while 100,000 of their messages
waited to be read), and every declaration woke all their groups, which made it fall
further behind. Two rules keep a broker's own lag out of the judgment:

* :class:`ReadClock`: time that counts is wall time minus the time the loop could not run
  at all. The driver's tick task reports when it meant to wake and when it did; a wake
  later than ``slack_s`` stops the clock for the excess, so a stall of the whole loop ages
  nobody.
* :func:`silent`: a peer is silent only if it has not been heard for ``timeout`` of that
  time *and* another peer was heard at least ``timeout`` after it -- proof that this broker
  was reading meanwhile. A broker that reads nobody (its loop behind on every stream, or
  cut off from everyone) judges nobody silent. This costs nothing where it matters: a
  controller that leads the metadata group hears some other member every heartbeat (the
  metadata group never quiesces, and a leader without a live quorum steps down), so a dead
  peer still counts as silent after ``timeout``; a broken connection (a killed process)
  still counts at once, outside this module (``down_peers.py``).

Pure: times are passed in; owned by the driver (``driver.py``), on the broker's loop.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ReadClock", "silent"]


class ReadClock:
    """Wall time minus the time the loop was stalled beyond ``slack_s`` (see the module doc).

    ``wait(due)`` before the probe (the tick task) sleeps until ``due``; ``woke(now)`` when
    it runs again. While a wake is pending, the clock runs only up to ``due + slack_s``: a
    judgment made in the middle of a stall, before the probe noticed it, sees no more than
    that. The clock never goes backwards and never jumps.
    """

    def __init__(self, slack_s: float) -> None:
        self.slack_s = slack_s
        #: Total wall time not counted (the loop could not run).
        self.stalled = 0.0
        self._due: float | None = None

    def wait(self, due: float) -> None:
        """The probe sleeps until ``due``."""
        self._due = due

    def woke(self, now: float) -> float:
        """The probe runs again at ``now``; returns the stall just forgiven (seconds)."""
        due, self._due = self._due, None
        if due is None:
            return 0.0
        late = now - (due + self.slack_s)
        if late <= 0:
            return 0.0
        self.stalled += late
        return late

    def now(self, wall: float) -> float:
        """The time that counts at wall time ``wall``."""
        if self._due is not None:
            wall = min(wall, self._due + self.slack_s)
        return wall - self.stalled


def silent(heard: Mapping[int, float], now: float, timeout: float) -> frozenset[int]:
    """The peers of ``heard`` (peer -> when last heard, in :class:`ReadClock` time) that
    are silent at ``now``: not heard for ``timeout``, while another peer was heard at least
    ``timeout`` after them (see the module doc). O(peers)."""
    if len(heard) < 2:
        return frozenset()
    first, second = sorted(heard.values(), reverse=True)[:2]
    out = []
    for peer, at in heard.items():
        if now - at < timeout:
            continue
        latest_other = second if at == first else first
        if latest_other - at >= timeout:
            out.append(peer)
    return frozenset(out)
