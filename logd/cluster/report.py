"""What a broker's heartbeat tells the controller of the partitions it leads (issue 21).

The controller keeps every broker's leaderships (``table.py``); a heartbeat carries only
what changed since the report the controller acknowledged -- all of it when the controller
holds nothing of ours (this broker started, or the controller changed). Two rules keep a
heartbeat small when the cluster is busiest:

* **A failed heartbeat is resent, not replaced by a full report.** Whether the controller
  applied it is unknown, but every entry of a report is absolute (this key is led with
  this info, or no longer led), so sending the same keys again -- with what holds for them
  now -- is right either way. At 10,000 partitions, forcing the full report (3,333 entries)
  after each failure made the next heartbeat slower, and it failed again: the brokers never
  got a report through to a new controller.
* **At most** ``limit`` **entries per heartbeat.** The rest stay unsent and go with the
  next one (the liveness loop heartbeats again soon while :attr:`LeaderReport.more`); a
  full report is the first ``limit`` entries with ``full`` set, then deltas.

Pure; owned by the broker's liveness loop (``liveness.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from logd.cluster.table import LeaderInfo

__all__ = ["REPORT_LIMIT", "LeaderReport"]

Key = tuple[str, int]
#: Leaderships per heartbeat (the rest follow in the next ones).
REPORT_LIMIT: Final = 2000


class LeaderReport:
    """The controller's copy of our leaderships as far as we know it, and what it lacks."""

    def __init__(self, limit: int = REPORT_LIMIT) -> None:
        self.limit = limit
        #: What the controller holds of ours (None: maybe nothing -- send everything).
        self.held: dict[Key, LeaderInfo] | None = None
        #: Keys whose info changed (or were not sent) since the held report.
        self.unsent: set[Key] = set()
        #: Keys of a heartbeat that failed: sent again whatever ``held`` says.
        self._resend: set[Key] = set()

    @property
    def more(self) -> bool:
        """Keys wait for the next heartbeat (the last one was cut at ``limit``)."""
        return bool(self.unsent)

    def forget(self) -> None:
        """The controller holds nothing of ours (it changed, or asked for everything)."""
        self.held = None

    def take(self, leading: Mapping[Key, LeaderInfo]) -> tuple[bool, dict[Key, LeaderInfo | None]]:
        """The next report: (full, key -> info, None for a key no longer led), at most
        ``limit`` keys; the others stay :attr:`unsent`."""
        held = self.held
        if held is None:
            self._resend.clear()
            keys = list(leading)
            self.unsent = set(keys[self.limit :])
            return True, {key: leading[key] for key in keys[: self.limit]}
        unsent, self.unsent = self.unsent, set()
        resend = self._resend
        sent: dict[Key, LeaderInfo | None] = {}
        for key in unsent:
            info = leading.get(key)
            if key not in resend:
                before = held.get(key)
                if before is info or before == info:
                    continue  # the controller holds this already
            if len(sent) >= self.limit:
                self.unsent.add(key)
                continue
            sent[key] = info
        return False, sent

    def delivered(self, full: bool, sent: Mapping[Key, LeaderInfo | None]) -> None:
        """The controller took the report ``take`` gave."""
        held = {} if full or self.held is None else self.held
        for key, info in sent.items():
            if info is None:
                held.pop(key, None)
            else:
                held[key] = info
        self.held = held
        self._resend.difference_update(sent)

    def lost(self, sent: Mapping[Key, LeaderInfo | None]) -> None:
        """The heartbeat failed: the controller may or may not hold what it carried."""
        self.unsent.update(sent)
        self._resend.update(sent)
