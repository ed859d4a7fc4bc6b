"""What a leader knows of each follower's log, and how it sends to it (etcd ``tracker/``).

Each follower's progress is a small state machine, written as a table (STYLE.md 4) rather
than strewn around as in etcd's ``progress.go``:

* PROBE: the leader does not know where the logs match.  It sends one append at a time
  (``probe_sent``) and waits for the answer or the next heartbeat response.
* REPLICATE: the logs match up to ``match``; the leader streams appends optimistically,
  up to a bounded window of in-flight messages (``Inflights``), moving ``next`` ahead.
* SNAPSHOT: the follower needs entries the leader no longer has; a snapshot is on its
  way and nothing else is sent until it is acknowledged or reported done or failed.

A learner may be *throttled* (``rate``: bytes a tick, 0: not; Kafka's replication
throttle, for a partition move's catch-up): each append spends its data size from
``credit`` and holds no more than it (but one entry at least), the leader's ticks refill
it by ``rate`` up to ``rate``, and nothing is sent while it is not positive -- so the
learner gets ``rate`` bytes a tick, one entry's overshoot at most. A voter is never
throttled: it holds commits back.

Invariant: match < next, and next <= leader's last offset + 1.

Not thread-safe; owned by the leader's ``LeaderState``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

__all__ = ["Inflights", "Progress", "ProgressEvent", "ProgressState"]


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class ProgressEvent(enum.Enum):
    ACKED = "acked"  # an accepted append moved match forward
    CAUGHT_UP = "caught-up"  # ... and match is now past the leader's log start
    REJECTED = "rejected"  # a rejection that is not stale
    NEEDS_SNAPSHOT = "needs-snapshot"  # next is below the leader's log start
    SNAPSHOT_DONE = "snapshot-done"  # the driver reports the snapshot delivered
    SNAPSHOT_FAILED = "snapshot-failed"  # the driver reports the snapshot lost
    UNREACHABLE = "unreachable"  # the driver reports the follower unreachable


class Inflights:
    """A bounded window of appends in flight: their last offsets and data sizes."""

    __slots__ = ("_window", "bytes", "max_bytes", "max_count")

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes  # 0: no byte limit
        self._window: deque[tuple[int, int]] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._window)

    def full(self) -> bool:
        if len(self._window) >= self.max_count:
            return True
        return self.max_bytes > 0 and self.bytes >= self.max_bytes

    def add(self, last_offset: int, size: int) -> None:
        assert not self._window or self._window[-1][0] < last_offset
        self._window.append((last_offset, size))
        self.bytes += size

    def free_to(self, offset: int) -> None:
        """Forget every append whose last offset is at or below ``offset`` (acknowledged)."""
        window = self._window
        while window and window[0][0] <= offset:
            self.bytes -= window.popleft()[1]

    def free_first(self) -> None:
        """Make room for one more append (a heartbeat answered while the window is full)."""
        if self._window:
            self.bytes -= self._window.popleft()[1]

    def reset(self) -> None:
        self._window.clear()
        self.bytes = 0


class Progress:
    """One follower's replication progress, as the leader tracks it."""

    __slots__ = (
        "credit",
        "inflights",
        "is_learner",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "rate",
        "recent_active",
        "state",
    )

    def __init__(self, next_offset: int, inflights: Inflights, *, is_learner: bool) -> None:
        self.match = -1
        self.next = next_offset
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = -1
        # Check-quorum counts a follower alive if it answered during the last election
        # timeout; a fresh follower gets the benefit of the doubt, as in etcd.
        self.recent_active = True
        self.inflights = inflights
        self.is_learner = is_learner
        self.rate = 0  # throttle: bytes a tick (0: none; learners only)
        self.credit = 0  # bytes it may be sent now (a throttled learner only)

    def fire(self, event: ProgressEvent, arg: int = -1) -> None:
        """Apply a transition of the table; any pair missing from it is a bug."""
        found = _TRANSITIONS.get((self.state, event))
        assert found is not None, f"progress in {self.state} has no transition on {event}"
        target, enter = found
        self.state = target
        if enter is not None:
            enter(self, arg)

    def maybe_update(self, offset: int) -> bool:
        """An acknowledgement up to ``offset``; False if it tells nothing new (stale)."""
        self.next = max(self.next, offset + 1)
        if offset <= self.match:
            return False
        self.match = offset
        self.probe_sent = False
        return True

    def throttled(self) -> bool:
        """Is this a learner under a throttle?"""
        return self.rate > 0 and self.is_learner

    def refill(self) -> bool:
        """A tick's worth of credit; True if that made a held-back learner sendable."""
        if not self.throttled() or self.credit >= self.rate:
            return False
        held = self.credit <= 0
        self.credit = min(self.credit + self.rate, self.rate)
        return held and self.credit > 0

    def is_paused(self) -> bool:
        """True if the leader must not send another append now."""
        if self.credit <= 0 and self.throttled():
            return True
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True

    def sent(self, prev_offset: int, last_offset: int, size: int) -> None:
        """An append covering ``(prev_offset, last_offset]`` was sent (``size``: its data
        bytes, when a byte window or a throttle counts them)."""
        if self.throttled():
            self.credit -= size
        if self.state is ProgressState.REPLICATE:
            if last_offset > prev_offset:
                self.next = last_offset + 1
                self.inflights.add(last_offset, size)
        else:
            self.next = prev_offset + 1  # a probe is answered for exactly this point
            self.probe_sent = True

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.value} match={self.match} next={self.next}"
            f"{' learner' if self.is_learner else ''}"
            f"{f' rate={self.rate} credit={self.credit}' if self.rate else ''}"
            f"{' probe-sent' if self.probe_sent else ''} inflight={len(self.inflights)})"
        )


def _enter_probe(pr: Progress, next_offset: int) -> None:
    pr.next = max(pr.match + 1, next_offset)
    pr.probe_sent = False
    pr.pending_snapshot = -1
    pr.inflights.reset()


def _enter_probe_after_snapshot(pr: Progress, _: int) -> None:
    # The follower installed the snapshot: probe right after it (etcd BecomeProbe).
    _enter_probe(pr, pr.pending_snapshot + 1)


def _enter_replicate(pr: Progress, _: int) -> None:
    pr.next = pr.match + 1
    pr.probe_sent = False
    pr.pending_snapshot = -1
    pr.inflights.reset()


def _enter_snapshot(pr: Progress, snapshot_offset: int) -> None:
    pr.pending_snapshot = snapshot_offset
    pr.probe_sent = False
    pr.inflights.reset()


_Enter = Callable[[Progress, int], None] | None
_P, _R, _S = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT
_E = ProgressEvent

# (state, event) -> (next state, entry action).  Pairs that are absent cannot happen.
_TRANSITIONS: dict[tuple[ProgressState, ProgressEvent], tuple[ProgressState, _Enter]] = {
    (_P, _E.ACKED): (_R, _enter_replicate),
    (_P, _E.REJECTED): (_P, _enter_probe),
    (_P, _E.NEEDS_SNAPSHOT): (_S, _enter_snapshot),
    (_P, _E.UNREACHABLE): (_P, None),
    (_R, _E.ACKED): (_R, None),
    (_R, _E.REJECTED): (_P, _enter_probe),
    (_R, _E.NEEDS_SNAPSHOT): (_S, _enter_snapshot),
    (_R, _E.UNREACHABLE): (_P, _enter_probe),
    (_S, _E.ACKED): (_S, None),
    (_S, _E.CAUGHT_UP): (_R, _enter_replicate),
    (_S, _E.REJECTED): (_S, None),
    (_S, _E.UNREACHABLE): (_S, None),
    (_S, _E.SNAPSHOT_DONE): (_P, _enter_probe_after_snapshot),
    (_S, _E.SNAPSHOT_FAILED): (_P, _enter_probe),
}
