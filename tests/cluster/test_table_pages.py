"""The whole leader table in pages (logd/cluster/table_pages.py): pure, no I/O."""

from __future__ import annotations

from logd.cluster.table import LeaderInfo, LeaderTable
from logd.cluster.table_pages import TablePages


def _controller(partitions: int) -> LeaderTable:
    table = LeaderTable(session_timeout_ms=10_000)
    table.report(1, [(("t", i), LeaderInfo(1, 1, (1, 2))) for i in range(partitions)], now_ms=0)
    return table


def _heartbeat(pages: TablePages, controller: LeaderTable, copy: LeaderTable) -> int:
    """One heartbeat of broker 2 and its answer applied to its copy; the answer's size."""
    full, changes, version = pages.answer(controller, 2, copy.known_epoch, copy.known_version)
    copy.apply(1, controller.live, (), 5, controller.epoch, version, full=full, changes=changes)
    return len(changes)


def test_a_new_copy_gets_the_whole_table_a_bounded_page_at_a_time() -> None:
    # Issue 21: another controller leadership's copy got all 10,000 entries in one answer.
    controller, copy, pages = _controller(1000), LeaderTable(10_000), TablePages(limit=300)
    old = LeaderTable(10_000)  # the previous controller's table, as the broker holds it
    old.report(2, [(("t", i), LeaderInfo(2, 1, (2, 1))) for i in range(1000)], now_ms=0)
    copy.apply(1, old.live, (), 5, old.epoch, old.version, full=True,
               changes=list(old.partitions.items()))  # fmt: skip
    held = dict(copy.partitions)
    assert held != controller.partitions
    sizes = []
    for _ in range(3):
        sizes.append(_heartbeat(pages, controller, copy))
        assert copy.partitions == held  # the copy in use stays whole until the last page
    sizes.append(_heartbeat(pages, controller, copy))
    assert sizes == [300, 300, 300, 100]
    assert copy.partitions == controller.partitions
    assert copy.known_version == controller.version  # then: the changes since, as before
    assert _heartbeat(pages, controller, copy) == 0


def test_a_lost_page_is_sent_again_and_what_changed_meanwhile_follows() -> None:
    controller, copy, pages = _controller(1000), LeaderTable(10_000), TablePages(limit=300)
    _heartbeat(pages, controller, copy)
    # The second page's answer is lost: the broker's copy stays as it was and asks again.
    pages.answer(controller, 2, copy.known_epoch, copy.known_version)
    # Meanwhile leaderships change (one already sent, one not yet) and one goes away.
    controller.report(1, [(("t", 0), LeaderInfo(1, 2, (1,))), (("t", 999), LeaderInfo(1, 2, (1,)))],
                      now_ms=1, full=False, unled=[("t", 5)])  # fmt: skip
    for _ in range(5):
        _heartbeat(pages, controller, copy)
    assert copy.partitions == controller.partitions
    assert copy.partitions[("t", 0)] == LeaderInfo(1, 2, (1,)) and ("t", 5) not in copy.partitions


def test_a_small_table_or_a_current_copy_is_answered_as_before() -> None:
    controller, pages = _controller(10), TablePages(limit=300)
    full, changes, version = pages.answer(controller, 2, -1, -1)
    assert full and len(changes) == 10 and version == controller.version
    assert pages.answer(controller, 2, controller.epoch, controller.version) == (
        False, [], controller.version)  # fmt: skip
    # A copy named by a page number of no paging under way: the whole table again.
    assert pages.answer(controller, 3, controller.epoch, -4)[0]
