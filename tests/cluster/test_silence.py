"""When a peer counts as silent (logd/cluster/silence.py): pure, no I/O."""

from __future__ import annotations

import itertools
import logging

import pytest

from logd.cluster.peer_news import STALL_LOG_S, PeerNews
from logd.cluster.silence import ReadClock, silent


def test_a_stalled_loop_stops_the_clock_beyond_the_slack() -> None:
    clock = ReadClock(slack_s=0.5)
    clock.wait(due=1.0)
    assert clock.woke(now=1.2) == 0.0  # late within the slack: counts
    assert clock.now(1.2) == 1.2
    clock.wait(due=1.25)
    # Mid-stall (the probe has not run yet) the clock stands at due + slack ...
    assert clock.now(5.0) == 1.75
    # ... and when the probe runs 10 s late, the excess is forgiven without a jump.
    assert clock.woke(now=11.25) == 9.5
    assert clock.now(11.25) == 1.75
    assert clock.now(12.25) == 2.75
    assert clock.stalled == 9.5


def test_the_clock_never_goes_backwards() -> None:
    clock = ReadClock(slack_s=0.5)
    seen = []
    wall = 0.0
    for due, woke in [(0.05, 0.06), (0.1, 3.0), (3.05, 3.05), (3.1, 3.9), (3.95, 9.0)]:
        clock.wait(due)
        for step in range(10):
            seen.append(clock.now(wall + (woke - wall) * step / 10))
        clock.woke(woke)
        seen.append(clock.now(woke))
        wall = woke
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(seen))  # float sums
    assert clock.now(9.0) == 9.0 - clock.stalled


def test_a_peer_is_silent_only_when_another_was_heard_a_timeout_after_it() -> None:
    # 1 died at 0; 2 talks on: 1 is silent once 4.5 s pass (failover is not slowed).
    assert silent({1: 0.0, 2: 4.5}, now=4.5, timeout=4.5) == {1}
    assert silent({1: 0.0, 2: 4.4}, now=4.5, timeout=4.5) == frozenset()
    # Nobody heard for a minute: this broker is not reading -- nobody is silent.
    assert silent({1: 0.0, 2: 0.1}, now=60.0, timeout=4.5) == frozenset()
    # One peer only: no other to prove we read.
    assert silent({1: 0.0}, now=60.0, timeout=4.5) == frozenset()
    # Both of two peers stale, a third fresh: both silent.
    assert silent({1: 0.0, 2: 1.0, 3: 9.0}, now=9.0, timeout=4.5) == {1, 2}
    # The latest peer is compared with the next latest (ties included).
    assert silent({1: 5.0, 2: 5.0}, now=20.0, timeout=4.5) == frozenset()


def test_a_loop_that_stalls_again_and_again_logs_it_once_in_stall_log_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Issue 21 (10,000 partitions): 37-170 "event loop stalled" lines per broker in 17 min.
    wall = [1000.0]
    news = PeerNews(0, 10.0, 4.5, lambda group: None, lambda: wall[0])
    with caplog.at_level(logging.INFO, logger="logd.cluster.peer_news"):
        for _ in range(30):  # a tick due in 50 ms runs 2 s late, 30 times (61.5 s)
            news.wait(wall[0] + 0.05)
            wall[0] += 2.05
            news.woke()
    lines = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert 1 < len(lines) <= 1 + 61.5 / STALL_LOG_S
    assert lines[0].startswith("event loop stalled 1.5 s: not counted")  # (beyond the slack)
    assert "stalls of 1 s or more since the last line" in lines[1]
