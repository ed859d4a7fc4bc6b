"""What a heartbeat tells the controller of our leaderships (logd/cluster/report.py): pure."""

from __future__ import annotations

from logd.cluster.report import LeaderReport
from logd.cluster.table import LeaderInfo

A, B, C = ("t", 0), ("t", 1), ("t", 2)


def info(epoch: int) -> LeaderInfo:
    return LeaderInfo(1, epoch, (1, 2))


def test_a_full_report_then_only_changes() -> None:
    report = LeaderReport(limit=10)
    full, sent = report.take({A: info(1), B: info(1)})
    assert full and sent == {A: info(1), B: info(1)}
    report.delivered(full, sent)
    report.unsent |= {A, C}  # A moved on, C is new, B unchanged
    full, sent = report.take({A: info(2), B: info(1), C: info(1)})
    assert not full and sent == {A: info(2), C: info(1)}
    report.delivered(full, sent)
    report.unsent |= {B}  # B no longer led
    assert report.take({A: info(2), C: info(1)}) == (False, {B: None})


def test_a_failed_heartbeat_sends_its_changes_again_not_everything() -> None:
    # Issue 21: a full report after each failure (3,333 entries at 10,000 partitions) made
    # the next heartbeat slower, and it failed again.
    report = LeaderReport(limit=10)
    report.delivered(*report.take({A: info(1), B: info(1)}))
    report.unsent |= {A}
    _, sent = report.take({A: info(2), B: info(1)})
    report.lost(sent)
    # A went back to what the controller held before -- but it may hold info(2) now.
    report.unsent |= {A}
    assert report.take({A: info(1), B: info(1)}) == (False, {A: info(1)})


def test_reports_are_cut_at_the_limit_and_the_rest_follows() -> None:
    report = LeaderReport(limit=2)
    leading = {("t", i): info(1) for i in range(5)}
    full, sent = report.take(leading)
    assert full and len(sent) == 2 and report.more
    report.delivered(full, sent)
    held: dict[tuple[str, int], LeaderInfo | None] = dict(sent)
    while report.more:
        full, sent = report.take(leading)
        assert not full and 0 < len(sent) <= 2
        report.delivered(full, sent)
        held.update(sent)
    assert held == leading and report.held == leading


def test_a_controller_that_holds_nothing_of_ours_gets_everything() -> None:
    report = LeaderReport(limit=10)
    report.delivered(*report.take({A: info(1)}))
    report.forget()
    assert report.take({A: info(1), B: info(1)}) == (True, {A: info(1), B: info(1)})
