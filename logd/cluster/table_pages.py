"""The controller's whole leader table in pages: a broker whose copy is another controller
leadership's, or older than the history the table keeps, gets the table :attr:`limit`
entries an answer instead of all of it in one (10,000 entries at 10,000 partitions, one
answer of a busy controller; issue 21 -- deltas and reports were bounded already).

The pages go out in key order. The first is a full answer (the broker drops its copy), the
next ones are changes on top of it: ``LeaderTable.apply`` as it is. Every answer but the
last tells the broker a version that names the page it carries -- a number below -1, never
a table version -- and the broker echoes it in its next heartbeat as the copy it holds: the
controller then sends the next page, or the same page again when the broker echoes the one
before (its heartbeat failed; a broker keeps its copy's version across a failed heartbeat).
The last page tells the version the table had when the first went out: the broker then asks
for the changes since it, which brings whatever changed while the pages went out. The
broker's heartbeat loop asks again soon after an answer that carried entries, so the pages
follow each other a tenth of a second apart.

Ownership: the controller leader's ``Liveness``, on the broker's event loop; pure.
"""

from __future__ import annotations

from logd.cluster.table import Change, Key, LeaderTable

__all__ = ["TablePages"]


class TablePages:
    """Which page of the table each broker is being sent. Not thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: broker -> (table epoch, table version at the first page, last key of each page).
        self._sending: dict[int, tuple[int, int, list[Key]]] = {}

    def answer(
        self, table: LeaderTable, broker: int, epoch: int, version: int
    ) -> tuple[bool, list[Change], int]:
        """What to answer ``broker``, whose copy is at (``epoch``, ``version``): (full,
        entries, the version to tell it), as ``LeaderTable.changes_since``."""
        sending = self._sending.get(broker)
        if sending is not None and epoch == table.epoch == sending[0] and version < -1:
            held = -version - 2  # the page the broker holds, 0 for the first
            ends = sending[2]
            if held < len(ends):
                del ends[held + 1 :]  # an answer lost on its way: that page again
                return self._page(table, broker, ends[held])
        self._sending.pop(broker, None)
        full, changes, now = table.changes_since(epoch, version, self.limit)
        if not full or len(changes) <= self.limit:
            return full, changes, now
        changes.sort(key=lambda change: change[0])
        first = changes[: self.limit]
        self._sending[broker] = (table.epoch, now, [first[-1][0]])
        return True, first, -2

    def _page(self, table: LeaderTable, broker: int, after: Key) -> tuple[bool, list[Change], int]:
        """The entries after ``after``, at most :attr:`limit`, as changes."""
        _, start, ends = self._sending[broker]
        keys = sorted(key for key in table.partitions if key > after)
        page = [(key, table.partitions.get(key)) for key in keys[: self.limit]]
        if len(keys) <= self.limit:
            return False, page, start  # the last: the broker asks for the changes since
        ends.append(keys[self.limit - 1])
        return False, page, -(len(ends) + 1)
