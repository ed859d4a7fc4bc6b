"""One simulated broker: the driver loop of a RawNode over a fake disk and a toy state
machine, exactly as a real driver must run it (replication/ready.py).

A Ready is handled in two steps so that a crash can fall between them: ``begin_ready``
sends ``messages`` and writes to the disk (unsynced); ``finish_ready`` -- now or some ticks
later, as the disk is slow -- syncs, sends ``messages_after_persist``, applies and
advances.  A Ready that asks for no sync (only the commit moved) leaves its hard state
unsynced: the commit offset may be persisted lazily.

With ``Config.async_writes`` several Readys are in flight at once (etcd's asynchronous
storage writes): each is written as it comes and gets its own sync time, no earlier than
the one before it; each sync makes durable only the writes up to that Ready's
(``FakeDisk.sync(upto)``), and Readys finish in the order they came.

The state machine (controller mode) folds every applied NORMAL entry into a CRC chain;
its snapshot is (offset, digest).  In partition mode nothing is applied: the commit
offset is the high watermark and retention drops whole entries behind metadata-only
snapshots.

Not thread-safe; owned by the simulator.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

from replication import ConfState, Entry, EntryKind, RawNode, Ready, Snapshot
from tests.replication.sim.disk import FakeDisk

if TYPE_CHECKING:
    from tests.replication.sim.simulator import Simulator

__all__ = ["SimNode", "digest_step"]

_SNAP = struct.Struct(">qI")


def digest_step(digest: int, entry: Entry) -> int:
    """The toy state machine's transition: a CRC chain over NORMAL entries."""
    if entry.kind != EntryKind.NORMAL:
        return digest
    return zlib.crc32(entry.data, (digest * 31 + entry.last_offset) & 0xFFFFFFFF)


class SimNode:
    """A node's driver, disk and state machine; ``raw`` is None while it is down."""

    def __init__(self, node_id: int, sim: Simulator, conf: ConfState | None) -> None:
        self.id = node_id
        self.sim = sim
        self.disk = FakeDisk(conf)
        self.raw: RawNode | None = None
        #: Readys written and not finished, oldest first: (Ready, sync tick, disk mark).
        self.flight: deque[tuple[Ready, int, int]] = deque()
        self.incarnation = 0
        self.app_applied = -1
        self.app_digest = 0
        self.tick_rate = 1.0  # clock skew: the chance that a simulator tick ticks this node
        self.decommissioned = False
        #: Down, but its broker lives: its other groups' frames still arrive, so it is
        #: vouched for and no detector calls it down (a group stopped by a bug).
        self.hung = False

    @property
    def broker_up(self) -> bool:
        return self.raw is not None or self.hung

    @property
    def up(self) -> bool:
        return self.raw is not None

    @property
    def inflight(self) -> Ready | None:
        """The oldest Ready in flight, if any."""
        return self.flight[0][0] if self.flight else None

    def due(self, now: int) -> bool:
        """The oldest Ready in flight is durable by ``now``."""
        return bool(self.flight) and self.flight[0][1] <= now

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart) from what is durable on the disk."""
        assert self.raw is None
        storage = self.disk.volatile
        snap = storage.snapshot()
        sc = self.sim.scenario
        applied = None
        if sc.controller_mode:
            self.app_applied, self.app_digest = snap.meta.offset, 0
            if snap.data:
                self.app_applied, self.app_digest = _SNAP.unpack(snap.data)
                self.sim.checker.on_app_state(self, self.app_applied, self.app_digest)
            applied = self.app_applied
        self.sim.checker.on_restart(self)
        cfg = replace(
            sc.raft_config,
            node_id=self.id,
            seed=self.sim.rng.getrandbits(32),
            applied=applied,
        )
        self.raw = RawNode(cfg, storage)
        self.incarnation += 1
        self.flight.clear()
        self.hung = False

    def crash(self) -> None:
        """Power loss: unsynced writes are lost (or torn), the Ready in flight too."""
        self.raw = None
        self.hung = False
        self.flight.clear()
        report = self.disk.crash(self.sim.rng)
        self.sim.checker.on_crash(self)
        self.sim.record("crash", self.id, report)

    def hang(self) -> None:
        """The group stops here (as after a crash: whatever is durable stays) while the
        broker lives on: its frames keep it vouched for (the lease's bounded case)."""
        self.crash()
        self.hung = True
        self.sim.record("hang", self.id)

    # -- the driver loop -------------------------------------------------------------

    def begin_ready(self, now: int) -> bool:
        raw = self.raw
        if raw is not None and self.flight and self.sim.scenario.early_messages:
            for m in raw.take_messages():  # what may leave while the disk is busy
                self.sim.send(m)
        if raw is None or not raw.has_ready():  # (False while a Ready may not overlap)
            return False
        rd = raw.ready()
        sim = self.sim
        sim.checker.on_ready(self, rd)
        for m in rd.messages:
            sim.send(m)
        disk = self.disk
        if rd.snapshot is not None:
            disk.write_snapshot(rd.snapshot)
        if rd.truncate_to is not None:
            disk.truncate_to(rd.truncate_to)
        if rd.entries:
            disk.append(list(rd.entries))
        if rd.hard_state is not None:
            disk.write_hard_state(rd.hard_state)
        delay = sim.disk_delay()
        sync_at = max(now + delay, self.flight[-1][1]) if self.flight else now + delay
        self.flight.append((rd, sync_at, disk.mark()))
        if delay == 0 and len(self.flight) == 1:
            self.finish_ready()
        return True

    def finish_ready(self) -> None:
        rd, _, mark = self.flight[0]
        raw = self.raw
        assert raw is not None
        if rd.must_sync:
            self.disk.sync(mark)
        sim = self.sim
        for m in rd.messages_after_persist:
            sim.send(m)
        if rd.snapshot is not None:
            self._restore_app(rd.snapshot)
        for entry in rd.committed_entries:
            assert entry.base_offset == self.app_applied + 1, (entry, self.app_applied)
            self.app_digest = digest_step(self.app_digest, entry)
            self.app_applied = entry.last_offset
            sim.checker.on_apply(self, entry, self.app_digest)
        raw.advance(rd)
        self.flight.popleft()

    def _restore_app(self, snapshot: Snapshot) -> None:
        if self.sim.scenario.controller_mode:
            self.app_applied, self.app_digest = _SNAP.unpack(snapshot.data)
            self.sim.checker.on_app_state(self, self.app_applied, self.app_digest)
        self.sim.checker.on_restore(self, snapshot)

    # -- compaction ------------------------------------------------------------------

    def compact(self) -> bool:
        """Snapshot the state machine (controller) or apply retention (partition)."""
        raw = self.raw
        if raw is None or self.inflight is not None:
            return False
        self.disk.sync()  # a lazily persisted commit goes along
        storage = self.disk.volatile
        first = storage.first_offset()
        if self.sim.scenario.controller_mode:
            upto = self.app_applied
            if upto < first:
                return False
            self.disk.compact(upto, _SNAP.pack(upto, self.app_digest))
            return True
        applied = raw.status().applied
        if applied < first:
            return False
        pick = self.sim.rng.randint(first, applied)
        upto = storage.entries(pick, pick, 0)[0].last_offset
        self.disk.compact(upto)
        return True
