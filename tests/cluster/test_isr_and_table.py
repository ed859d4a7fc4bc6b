"""The ISR a leader reports, and the controller's leader/liveness table."""

from __future__ import annotations

from logd.cluster.isr import IsrTracker
from logd.cluster.table import LeaderInfo, LeaderTable
from replication import ConfState, ProgressState, ProgressStatus, Role, Status


def _status(last: int, matches: dict[int, tuple[int, bool]]) -> Status:
    progress = {
        node: ProgressStatus(match, match + 1, ProgressState.REPLICATE, active, False, 0, False)
        for node, (match, active) in matches.items()
    }
    return Status(0, Role.LEADER, 2, 0, 0, last, last, 0, last, 2, ConfState.of([0, 1, 2]),
                  False, None, progress)  # fmt: skip


def test_a_follower_that_reached_where_the_leader_was_lag_max_ago_is_in_sync() -> None:
    isr = IsrTracker((0, 1, 2), me=0, lag_max_ms=1000)
    assert isr.sample(_status(100, {0: (100, True), 1: (100, True), 2: (40, True)}), 0)
    assert isr.in_sync == (0, 1)
    # Under load nobody equals the leader's end; reaching its end of a second ago counts.
    isr.sample(_status(200, {0: (200, True), 1: (150, True), 2: (90, True)}), 600)
    assert isr.in_sync == (0, 1)
    isr.sample(_status(300, {0: (300, True), 1: (250, True), 2: (210, True)}), 1200)
    assert isr.in_sync == (0, 1, 2)  # 2 reached 200, where the leader was at 600 ms


def test_a_silent_follower_leaves_after_two_quiet_samples() -> None:
    isr = IsrTracker((0, 1, 2), me=0, lag_max_ms=30_000)
    isr.sample(_status(10, {0: (10, True), 1: (10, True), 2: (10, True)}), 0)
    # The core clears recent_active at each election timeout: one quiet sample is normal.
    assert not isr.sample(_status(10, {0: (10, True), 1: (10, True), 2: (10, False)}), 500)
    assert isr.sample(_status(10, {0: (10, True), 1: (10, True), 2: (10, False)}), 1000)
    assert isr.in_sync == (0, 1)
    isr.reset(leading=True)
    assert isr.in_sync == (0,)


def test_the_table_forgets_a_silent_broker_and_its_leaderships() -> None:
    table = LeaderTable(session_timeout_ms=1000)
    table.report(1, [(("t", 0), LeaderInfo(1, 3, (1, 2)))], now_ms=0, metadata_offset=7)
    table.report(2, [(("t", 1), LeaderInfo(2, 1, (2,)))], now_ms=500, metadata_offset=5)
    assert table.live == {1, 2} and set(table.partitions) == {("t", 0), ("t", 1)}
    assert table.caught_up(5) and not table.caught_up(6)
    table.expire(1200)
    assert table.live == {2} and set(table.partitions) == {("t", 1)}


def test_two_claims_resolve_to_the_higher_epoch() -> None:
    table = LeaderTable(session_timeout_ms=10_000)
    table.report(1, [(("t", 0), LeaderInfo(1, 3, (1,)))], now_ms=0)
    table.report(2, [(("t", 0), LeaderInfo(2, 4, (2, 1)))], now_ms=0)
    assert table.partitions[("t", 0)] == LeaderInfo(2, 4, (2, 1))
