"""The leader/ISR/liveness table (soft state, never in the log).

The controller leader builds it from broker heartbeats (:meth:`LeaderTable.report`) and
hands it out in heartbeat answers; every other broker keeps the copy it was given
(:meth:`LeaderTable.apply`). Metadata answers read it for partitions this broker does
not host; for hosted ones the local Raft group knows better (the store merges them).

A broker is live while its heartbeats keep arriving within ``session_timeout_ms`` -- or,
once it has reported, while the controller hears its Raft frames (a broker busy with
thousands of elections heartbeats late but is not dead: issue 21); what a broker reported
leading is forgotten with it. Two brokers claiming one partition (a deposed
leader that has not heard yet) resolve to the higher epoch.

Nothing here is O(partitions) per heartbeat (issue 21: 10,000 partitions made the idle
heartbeats the brokers' main work): a broker reports only what changed since its last
acknowledged report (a full report when it starts or when the controller changed; after a
failed heartbeat the same changes again: ``report.py``), the merged table is kept up to
date key by key, and each answer carries only the entries that changed since the version
the broker says it holds, a bounded number at a time (:meth:`changes_since`) -- the whole
table only when the broker's copy is from another controller leadership (``epoch``) or
older than the change history kept.

``down``: the brokers the controller declares down, which quiet Raft groups act on
(``replication/quiesce.py``). A new controller leader declares nobody down until it has
led for a session timeout: a broker that has not reported *yet* is not dead.

Owned by the broker's loop; not thread-safe.
"""

from __future__ import annotations

import bisect
import dataclasses
import secrets
from collections.abc import Iterable, Mapping
from typing import Final

from logd.metadata.types import BrokerStorage

__all__ = ["SIZE_FLOOR", "LeaderInfo", "LeaderTable", "size_class"]

Key = tuple[str, int]
Change = tuple[Key, "LeaderInfo | None"]


@dataclasses.dataclass(frozen=True, slots=True)
class LeaderInfo:
    leader: int
    epoch: int
    isr: tuple[int, ...]
    #: While the partition moves (issue 23): the bytes of the leader's log its joining
    #: replicas still lack, summed (-1: not moving, or unknown).
    move_bytes: int = -1
    #: The bytes of the leader's log, rounded down to 4 significant bits, 0 below 1 MiB
    #: (:func:`size_class`), for the balancer (issue 23). Reported again when it changes.
    size: int = 0


#: Logs smaller than this report 0 bytes: the balancer spreads them by count alone (their
#: moves are cheap), and thousands of small, growing partitions add nothing to heartbeats.
SIZE_FLOOR: Final = 1 << 20


def size_class(size: int) -> int:
    """``size`` rounded down to its 4 leading bits (within 12.5% of it, 8 steps per
    doubling), 0 below ``SIZE_FLOOR``: the size a leader reports, so that a growing log
    changes its report rarely, not at every append."""
    if size < SIZE_FLOOR:
        return 0
    drop = max(0, size.bit_length() - 4)
    return size >> drop << drop


class LeaderTable:
    """Partition -> leader info, and the live brokers."""

    def __init__(self, session_timeout_ms: int) -> None:
        self.session_timeout_ms = session_timeout_ms
        self.partitions: dict[Key, LeaderInfo] = {}
        self.live: frozenset[int] = frozenset()
        #: The brokers declared down (controller: computed; others: as last told).
        self.down: frozenset[int] = frozenset()
        #: The controller's applied metadata offset at its last answer (-1: none yet).
        self.metadata_offset = -1
        self.controller_id = -1
        #: Bumped at every change of ``live`` or ``partitions`` (either side).
        self.version = 0
        #: This table's identity as the controller's (new at each leadership), and on
        #: another broker the identity and version of the copy it holds.
        self.epoch = secrets.randbits(62)
        self.known_epoch = -1
        self.known_version = -1
        #: A whole table arriving in pages (``table_pages.py``), kept apart until its last
        #: page: the copy in use stays whole meanwhile.
        self._staged: dict[Key, LeaderInfo] | None = None
        self._seen: dict[int, int] = {}  # broker -> last heartbeat (ms), controller only
        #: Brokers heard from otherwise (controller only; see :meth:`report`).
        self._alive: frozenset[int] = frozenset()
        self._by_broker: dict[int, dict[Key, LeaderInfo]] = {}
        #: (version, key) of every change of ``partitions``, in version order.
        self._changes: list[tuple[int, Key]] = []
        self._history_from = 0  # versions before this one are no longer in _changes
        self._since_ms: int | None = None  # when this controller leadership began
        #: broker -> the metadata offset it reported applied (controller only).
        self.applied: dict[int, int] = {}
        #: live broker -> its disk as it last reported it (issue 24).
        self.storage: dict[int, BrokerStorage] = {}
        self._reported_storage: dict[int, BrokerStorage] = {}

    @property
    def full(self) -> frozenset[int]:
        """Live brokers whose disks are below their reserve (no leadership goes there)."""
        return frozenset(b for b, s in self.storage.items() if s.full)

    # -- on the controller leader ---------------------------------------------------------

    def report(
        self,
        broker: int,
        led: Iterable[tuple[Key, LeaderInfo]],
        now_ms: int,
        metadata_offset: int = -1,
        *,
        full: bool = True,
        unled: Iterable[Key] = (),
        storage: BrokerStorage | None = None,
        alive: frozenset[int] = frozenset(),
    ) -> None:
        """A broker's heartbeat: all it leads (``full``), or what changed since its last
        report -- ``led`` anew, ``unled`` no more. ``alive``: the brokers the controller
        hears from otherwise (Raft frames): live however late their heartbeats."""
        self._alive = alive
        if self._since_ms is None:
            self._since_ms = now_ms
        self._seen[broker] = now_ms
        if storage is not None:
            self._reported_storage[broker] = storage
        self.applied[broker] = max(self.applied.get(broker, -1), metadata_offset)
        held = self._by_broker.setdefault(broker, {})
        changed: set[Key] = set()
        if full:
            new = dict(led)
            changed = {k for k in held.keys() | new.keys() if held.get(k) != new.get(k)}
            self._by_broker[broker] = new
        else:
            for key, info in led:
                if held.get(key) != info:
                    held[key] = info
                    changed.add(key)
            for key in unled:
                if held.pop(key, None) is not None:
                    changed.add(key)
        self._expire(now_ms, changed)

    def expire(self, now_ms: int) -> None:
        self._expire(now_ms, set())

    def _expire(self, now_ms: int, changed: set[Key]) -> None:
        horizon = now_ms - self.session_timeout_ms
        alive = self._alive
        live = frozenset(b for b, t in self._seen.items() if t >= horizon or b in alive)
        if live != self.live:
            for broker in live ^ self.live:
                changed |= self._by_broker.get(broker, {}).keys()
            self.live = live
            self.version += 1
        self.storage = {b: s for b, s in self._reported_storage.items() if b in live}
        for key in changed:
            self._merge(key)

    def _merge(self, key: Key) -> None:
        """Recompute one partition's entry: the highest epoch any live broker claims."""
        best: LeaderInfo | None = None
        for broker in self.live:
            info = self._by_broker.get(broker, {}).get(key)
            if info is not None and (best is None or info.epoch > best.epoch):
                best = info
        if best == self.partitions.get(key):
            return
        if best is None:
            del self.partitions[key]
        else:
            self.partitions[key] = best
        self.version += 1
        self._changes.append((self.version, key))
        if len(self._changes) > 2 * len(self.partitions) + 1024:
            self._changes = []  # older copies get the whole table; so does a new one
            self._history_from = self.version + 1

    def changes_since(
        self, epoch: int, version: int, limit: int | None = None
    ) -> tuple[bool, list[Change], int]:
        """What a broker holding our table at ``version`` lacks, and the version its copy
        is at with it: (True, everything, now) when its copy is another leadership's or
        older than the history kept, else (False, each changed key's entry now -- None for
        a removed one -- and the version). At most ``limit`` keys of changes: the version
        is then the one before the first change left out, which the next answer brings
        (a busy controller's answers stay small; issue 21)."""
        if epoch != self.epoch or version + 1 < self._history_from or version > self.version:
            return True, list(self.partitions.items()), self.version
        changes = self._changes
        i = bisect.bisect_right(changes, (version, ("\U0010ffff", 1 << 62)))
        keys: dict[Key, None] = {}
        upto = self.version
        for at in range(i, len(changes)):
            changed_at, key = changes[at]
            if key not in keys:
                if limit is not None and len(keys) >= limit:
                    upto = changed_at - 1
                    break
                keys[key] = None
        return False, [(key, self.partitions.get(key)) for key in keys], upto

    def holds_report_of(self, broker: int) -> bool:
        """Whether a report of ``broker`` arrived since this controller leadership began
        (a delta from a broker we hold nothing of is useless: it must send everything)."""
        return broker in self._by_broker

    def caught_up(self, offset: int) -> bool:
        """Every live broker has applied the metadata up to ``offset``."""
        return all(self.applied.get(b, -1) >= offset for b in self.live)

    def declared_down(self, brokers: Iterable[int], now_ms: int) -> frozenset[int]:
        """The brokers (of ``brokers``) to declare down: not live -- once this controller
        has led long enough to have heard from every live broker."""
        since = self._since_ms
        if since is None or now_ms - since < self.session_timeout_ms:
            return frozenset()
        return frozenset(b for b in brokers if b not in self.live)

    def late(self, now_ms: int) -> frozenset[int]:
        """The brokers whose last heartbeat is older than the session timeout."""
        horizon = now_ms - self.session_timeout_ms
        return frozenset(b for b, t in self._seen.items() if t < horizon)

    def heartbeat_age_ms(self, broker: int, now_ms: int) -> int:
        """How long since ``broker``'s last heartbeat (-1: none in this leadership)."""
        seen = self._seen.get(broker)
        return -1 if seen is None else now_ms - seen

    def clear_reports(self) -> None:
        """A new controller leader starts from nothing (its predecessor's table is gone)."""
        self._reported_storage.clear()
        self._seen.clear()
        self._by_broker.clear()
        self.applied.clear()
        self._since_ms = None
        self.epoch = secrets.randbits(62)
        self._changes = []
        self._history_from = self.version + 1

    # -- on every other broker ------------------------------------------------------------

    def apply(
        self,
        controller_id: int,
        live: Iterable[int],
        down: Iterable[int],
        metadata_offset: int,
        epoch: int,
        version: int,
        *,
        full: bool,
        changes: Iterable[Change],
        storage: Mapping[int, BrokerStorage] | None = None,
    ) -> None:
        """The controller's answer: its live and down brokers and the entries that changed
        (``full``: the whole table) since the copy we said we held."""
        live_set = frozenset(live)
        if storage is not None:
            self.storage = dict(storage)
        self.controller_id = controller_id
        self.metadata_offset = metadata_offset
        self.down = frozenset(down)
        self.known_epoch, self.known_version = epoch, version
        moved = live_set != self.live
        self.live = live_set
        if version < -1 or self._staged is not None:
            staged = {} if full or self._staged is None else self._staged
            for key, info in changes:
                if info is None:
                    staged.pop(key, None)
                else:
                    staged[key] = info
            if version < -1:  # more pages follow
                self._staged = staged
                if moved:
                    self.version += 1
                return
            self._staged = None
            full, changes = True, list(staged.items())
        if full:
            new = {key: info for key, info in changes if info is not None}
            moved |= new != self.partitions
            self.partitions = new
        else:
            for key, info in changes:
                if info is None:
                    moved |= self.partitions.pop(key, None) is not None
                elif self.partitions.get(key) != info:
                    self.partitions[key] = info
                    moved = True
        if moved:
            self.version += 1

    def forget_copy(self) -> None:
        """Ask for the whole table at the next answer (a heartbeat failed: we may have
        missed changes, or the controller moved)."""
        self.known_epoch = self.known_version = -1
        self._staged = None
