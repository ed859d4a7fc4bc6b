"""The configurations found in a node's log, newest in force (thesis §4.1, KRaft, Redpanda).

A node uses the latest configuration in its log whether or not it is committed; when a
conflicting append truncates the log, the configurations of the truncated part are
dropped and the previous one is in force again.  Only the last configuration at or below
the commit offset can never be truncated, so older ones are pruned: the history stays a
handful of items however long the log is.

Not thread-safe; owned by the node's ``Raft``.
"""

from __future__ import annotations

from replication.types import ConfState

__all__ = ["ConfigHistory"]


class ConfigHistory:
    """(offset, configuration) pairs in offset order; the last one is in force."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[int, ConfState], ...] = ()) -> None:
        self._items: list[tuple[int, ConfState]] = list(items) or [(-1, ConfState())]
        offsets = [o for o, _ in self._items]
        assert offsets == sorted(offsets), f"configurations out of order: {offsets}"

    @property
    def current(self) -> ConfState:
        return self._items[-1][1]

    @property
    def current_offset(self) -> int:
        return self._items[-1][0]

    def pending(self, commit: int) -> bool:
        """True if the configuration in force is not committed yet."""
        return self._items[-1][0] > commit

    def append(self, offset: int, conf: ConfState) -> None:
        assert offset > self._items[-1][0], (offset, self._items[-1][0])
        self._items.append((offset, conf))

    def truncate(self, from_offset: int) -> None:
        """Forget configurations at or after ``from_offset`` (their entries were removed)."""
        items = self._items
        while len(items) > 1 and items[-1][0] >= from_offset:
            items.pop()
        assert items[-1][0] < from_offset, f"truncation at {from_offset} below {items[-1][0]}"

    def prune(self, upto: int) -> None:
        """Keep only the last configuration at or below ``upto`` and those after it."""
        items = self._items
        keep = 0
        while keep + 1 < len(items) and items[keep + 1][0] <= upto:
            keep += 1
        if keep:
            del items[:keep]

    def at(self, offset: int) -> ConfState:
        """The configuration in force at ``offset`` (as far back as the history reaches)."""
        found = self._items[0][1]
        for at, conf in self._items:
            if at > offset:
                break
            found = conf
        return found

    def reset(self, offset: int, conf: ConfState) -> None:
        """A snapshot replaced the log: its configuration is all there is."""
        self._items = [(offset, conf)]

    def __len__(self) -> int:
        return len(self._items)
