"""The partition's storage ``Log`` as its Raft log: the ``LogStorage`` the core reads, and
the writes a ``Ready`` asks for (docs/replication.md "Storage"; DESIGN.md principle 3).

One entry is one stored record batch: offsets ``[baseOffset, lastOffset]``, term =
``partitionLeaderEpoch``. Raft's own entries are control batches (attribute bit 5) that
consumers skip, typed as KRaft types its records: a new leader's first entry is a
LEADER_CHANGE control record, a configuration a KRAFT_VOTERS control record whose value is
``ConfState.encode()``. On the wire an entry keeps its stored bytes (NORMAL) or just the
configuration bytes (CONF_CHANGE); each replica builds its own control batch, so control
batches may differ in their timestamps between replicas, never in offsets or terms.

Terms come from Kafka's leader-epoch cache (``epoch_at``, ``epoch_entries``): no log scan.
The cache forgets what lies before the log start, so the term of the snapshot point (the
entry just before the log start) is kept here and in the group's side file.

Ownership: owned by the broker's event loop, read by the core (inline) and written by the
driver between ``ready()`` and ``advance()``. The Log itself is thread-safe (the Flusher
fsyncs it); this object is not.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from logd.clock import Clock
from logd.cluster.raft_state import RaftState, RaftStateFile
from logd.errors import CorruptRecordError, KafkaStorageError
from logd.records.control import (
    ControlType,
    build_control_batch,
    parse_control_record,
    without_timestamps,
)
from logd.records.decoder import decode_batch
from logd.records.header import ATTR_CONTROL, parse_header, peek_batch_size
from logd.storage import Log
from logd.storage.files import write_atomic
from logd.storage.io_errors import storage_error
from logd.storage.rewrite import empty_batch
from replication import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    InitialState,
    Ready,
    Snapshot,
    SnapshotMeta,
)

__all__ = ["PartitionLog", "control_batch_for"]

_NORMAL, _LEADER_CHANGE, _CONF = EntryKind.NORMAL, EntryKind.LEADER_CHANGE, EntryKind.CONF_CHANGE
_ATTRIBUTES_POS = 21


#: Control batches carry no timestamp (``without_timestamps``): time lookups, time-based
#: rolls and retention see only the producers' records, never Raft's bookkeeping.
_SNAPSHOT_HEAD: Final = struct.Struct(">qq")  # offset covered, its term


def control_batch_for(entry: Entry) -> bytes:
    """The control batch that stores one of Raft's own entries."""
    assert entry.kind != _NORMAL and entry.base_offset == entry.last_offset, entry
    control = ControlType.KRAFT_VOTERS if entry.kind == _CONF else ControlType.LEADER_CHANGE
    return without_timestamps(
        build_control_batch(
            control,
            bytes(entry.data),
            timestamp=0,
            base_offset=entry.base_offset,
            partition_leader_epoch=entry.term,
        )
    )


class PartitionLog:
    """``LogStorage`` over a partition's ``Log`` plus its side file; see the module doc."""

    def __init__(
        self,
        log: Log,
        state_file: RaftStateFile,
        clock: Clock,
        *,
        initial_conf: ConfState | None = None,
        snapshot_file: Path | None = None,
    ) -> None:
        self.log = log
        #: Where a state machine's snapshot lives (the controller); None for a partition.
        self.snapshot_file = snapshot_file
        self.state_file = state_file
        self._clock = clock
        persisted = state_file.load()
        start = log.log_start_offset
        epochs = log.epoch_entries()
        self._state_dirty = False
        if persisted is None:
            last = log.last_offset_and_epoch()
            term = last[1] if last is not None else 0
            journaled = state_file.journaled()
            self.hard_state = journaled or HardState(term, None, -1)
            self.snapshot_offset = start - 1
            self.snapshot_term = epochs[0][0] if start > 0 and epochs else 0
            conf = initial_conf if initial_conf is not None else ConfState()
            self.confs: list[tuple[int, ConfState]] = [(start - 1, conf)]
            #: Nothing was ever persisted for this group: its log was created now.
            self.fresh = journaled is None
            if state_file.trusts_journal:
                # The file would say what we just derived: no file until that changes
                # (3,000 partitions created at once need no 3,000 side files first).
                state_file.assume(self._raft_state())
            else:
                self._state_dirty = True
        else:
            self.hard_state = persisted.hard_state
            self.snapshot_offset = start - 1
            self.snapshot_term = (
                persisted.snapshot_term
                if persisted.snapshot_offset == start - 1
                else (epochs[0][0] if epochs else persisted.snapshot_term)
            )
            self.confs = self._checked_confs(persisted.confs)
            self.fresh = False
        #: Recovery cut this log (a torn or corrupted tail, a cut file) or it ends below the
        #: commit it once persisted: entries it acknowledged may be gone (see the driver).
        self.lost_data = log.truncated_on_open > 0 or self.hard_state.commit > self.last_offset()
        #: Snapshot data of a state machine (the controller); empty for a partition.
        self.snapshot_data: bytes = b""
        #: Called after each NORMAL entry is written, and after the log was cut (truncation,
        #: snapshot): the partition's producer state follows the log (issue 7's seams).
        self.on_written: Callable[[Entry], None] | None = None
        self.on_cut: Callable[[], None] | None = None
        if snapshot_file is not None:
            self._load_snapshot(snapshot_file)

    def _checked_confs(
        self, confs: tuple[tuple[int, ConfState], ...]
    ) -> list[tuple[int, ConfState]]:
        """Keep the persisted configurations that the log still holds (a crash may have
        lost an unsynced CONF_CHANGE entry the side file already named)."""
        last = self.last_offset()
        kept = [c for c in confs if c[0] <= self.snapshot_offset]
        base = kept[-1] if kept else (confs[0] if confs else (self.snapshot_offset, ConfState()))
        out = [(self.snapshot_offset, base[1])]
        for offset, conf in confs:
            if self.snapshot_offset < offset <= last and self._conf_entry(offset) == conf:
                out.append((offset, conf))
        return out

    def _conf_entry(self, offset: int) -> ConfState | None:
        try:
            (entry,) = self.entries(offset, offset, 0)[:1]
        except (CorruptRecordError, KafkaStorageError, ValueError):
            return None  # unreadable: the scrub finds and repairs it (replicated.py)
        return ConfState.decode(entry.data) if entry.kind == _CONF else None

    # -- LogStorage ----------------------------------------------------------------------

    def initial_state(self) -> InitialState:
        return InitialState(self.hard_state, tuple(self.confs))

    def first_offset(self) -> int:
        return self.snapshot_offset + 1

    def last_offset(self) -> int:
        return self.log.log_end_offset - 1

    def term_at(self, offset: int) -> int:
        if offset == self.snapshot_offset:
            return self.snapshot_term
        term = self.log.epoch_at(offset)
        assert term is not None, f"{self.log.name}: no term at {offset}"
        return term

    def last_offset_for_term(self, term: int) -> int | None:
        epochs = self.log.epoch_entries()
        i = bisect.bisect_right([e for e, _ in epochs], term) - 1
        if i < 0:
            return self.snapshot_offset if self.snapshot_term <= term else None
        if i + 1 < len(epochs):
            return epochs[i + 1][1] - 1
        return self.last_offset()

    def entries(self, from_offset: int, until_offset: int, max_bytes: int) -> Sequence[Entry]:
        data = self.log.read(from_offset, max(max_bytes, 1), max_offset=until_offset + 1)
        view = memoryview(data)
        out: list[Entry] = []
        expected = from_offset
        pos = 0
        while pos < len(view):
            size = peek_batch_size(view, pos)
            if size is None or size > len(view) - pos:
                break  # a partial tail that max_bytes cut
            if out and pos + size > max_bytes:
                break
            header = parse_header(view, pos)
            if header.base_offset > expected:
                out.extend(self._gap(expected, header.base_offset - 1))
            chunk = view[pos : pos + size]
            out.append(
                self._entry(
                    header.base_offset,
                    header.last_offset,
                    header.partition_leader_epoch,
                    header.attributes,
                    chunk,
                )
            )
            expected = header.last_offset + 1
            pos += size
        if not out:
            out.extend(self._gap(from_offset, until_offset))  # all of it cleaned away
        assert out, f"{self.log.name}: no entry at {from_offset}"
        return out

    def _gap(self, first: int, last: int) -> list[Entry]:
        """Offsets the cleaner removed, as entries holding an empty batch each, one per
        term: Raft's log stays contiguous (a follower stores the empty batch and its own
        cleaner drops it; consumers read past it), and every offset keeps its term."""
        starts = [start for _, start in self.log.epoch_entries() if first < start <= last]
        out: list[Entry] = []
        for begin, end in zip([first, *starts], [*(s - 1 for s in starts), last], strict=True):
            term = self.term_at(begin)
            out.append(Entry(term, begin, end, _NORMAL, empty_batch(begin, end, term)))
        return out

    @staticmethod
    def _entry(base: int, last: int, term: int, attributes: int, chunk: memoryview) -> Entry:
        if not attributes & ATTR_CONTROL:
            return Entry(term, base, last, _NORMAL, chunk)
        records = decode_batch(chunk).records()
        if not records:
            return Entry(term, base, last, _LEADER_CHANGE, b"")
        control, value = parse_control_record(records[0])
        if control == ControlType.KRAFT_VOTERS:
            return Entry(term, base, last, _CONF, value)
        if control == ControlType.LEADER_CHANGE:
            return Entry(term, base, last, _LEADER_CHANGE, b"")
        # A control batch the leader proposed as a batch (LOG_START): its bytes travel.
        return Entry(term, base, last, _NORMAL, chunk)

    def snapshot(self) -> Snapshot:
        meta = SnapshotMeta(
            self.snapshot_offset, self.snapshot_term, self.conf_at(self.snapshot_offset)
        )
        return Snapshot(meta, self.snapshot_data)

    def conf_at(self, offset: int) -> ConfState:
        current = self.confs[0][1]
        for at, conf in self.confs:
            if at > offset:
                break
            current = conf
        return current

    # -- writes (the driver's side of a Ready) ------------------------------------------

    def write(self, rd: Ready, *, retry: bool = False) -> bool:
        """Carry out a Ready's writes (to the page cache); True if the side file changed.

        Order as ``ready.py`` says: snapshot, truncation, entries, hard state. ``retry``:
        an earlier attempt at this Ready failed part-way (a full disk; the log undid the
        batch it failed on): the steps before are redone (they are idempotent) and the
        entries it did write are skipped.
        """
        if rd.snapshot is not None:
            self.apply_snapshot(rd.snapshot)
        if rd.truncate_to is not None:
            self.truncate_to(rd.truncate_to)
        if (rd.snapshot is not None or rd.truncate_to is not None) and self.on_cut is not None:
            self.on_cut()
        if rd.entries:
            end = self.log.log_end_offset
            self.append([e for e in rd.entries if e.last_offset >= end] if retry else rd.entries)
        if rd.hard_state is not None:
            vote_changed = (
                rd.hard_state.term != self.hard_state.term
                or rd.hard_state.vote != self.hard_state.vote
            )
            self.hard_state = rd.hard_state
            # The commit alone is persisted lazily (the core clamps it on restart).
            self._state_dirty |= vote_changed
        dirty = self._state_dirty
        if dirty:
            self.stage()
        return dirty

    def _raft_state(self) -> RaftState:
        return RaftState(
            self.hard_state, self.snapshot_offset, self.snapshot_term, tuple(self.confs)
        )

    def stage(self) -> None:
        self.state_file.stage(self._raft_state())
        self._state_dirty = False

    def append(self, entries: Sequence[Entry]) -> None:
        log = self.log
        for e in entries:
            assert e.base_offset == log.log_end_offset, (log.name, e, log.log_end_offset)
            if e.kind == _NORMAL:
                log.append_replicated(e.data)
                if self.on_written is not None:
                    self.on_written(e)
            else:
                log.append_replicated(control_batch_for(e))
                if e.kind == _CONF:
                    self.confs.append((e.last_offset, ConfState.decode(e.data)))
                    self._state_dirty = True

    def truncate_to(self, offset: int) -> None:
        assert offset > self.snapshot_offset, (self.log.name, offset, self.snapshot_offset)
        self.log.truncate_to(offset)
        if self.confs[-1][0] >= offset:
            self.confs = [c for c in self.confs if c[0] < offset] or [self.confs[0]]
            self._state_dirty = True

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        if self.snapshot_file is not None:
            self._write_snapshot(meta.offset, meta.term, bytes(snapshot.data))
        self.log.reset_to(meta.offset + 1)
        self.snapshot_offset, self.snapshot_term = meta.offset, meta.term
        self.confs = [(meta.offset, meta.conf_state)]
        self.snapshot_data = bytes(snapshot.data)
        self._state_dirty = True

    # -- a state machine's snapshots (the controller) -----------------------------------

    def _load_snapshot(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise KafkaStorageError(f"cannot read {path}: {exc}") from exc
        if len(data) < _SNAPSHOT_HEAD.size:
            raise KafkaStorageError(f"{path} is shorter than its header")
        offset, term = _SNAPSHOT_HEAD.unpack_from(data)
        body = data[_SNAPSHOT_HEAD.size :]
        if offset < self.snapshot_offset or offset > self.last_offset():
            raise KafkaStorageError(
                f"{path} covers offset {offset}, outside the log "
                f"[{self.snapshot_offset}, {self.last_offset()}]"
            )
        if offset > self.snapshot_offset:
            # A crash came between writing the snapshot and cutting the log: finish.
            self.log.delete_records_before(offset + 1)
        self.snapshot_offset, self.snapshot_term, self.snapshot_data = offset, term, body
        self.confs = [(offset, self.conf_at(offset))] + [c for c in self.confs if c[0] > offset]

    def _write_snapshot(self, offset: int, term: int, data: bytes) -> None:
        assert self.snapshot_file is not None
        try:
            write_atomic(
                self.snapshot_file, _SNAPSHOT_HEAD.pack(offset, term) + data, fsync=os.fsync
            )
        except OSError as exc:
            raise storage_error("writing the snapshot", exc, self.snapshot_file) from exc

    def compact(self, offset: int, data: bytes) -> None:
        """A state machine's snapshot at ``offset`` (an entry's last offset, applied and
        durable): write it (fsynced) first, then drop the log up to it."""
        if offset <= self.snapshot_offset:
            return
        term = self.term_at(offset)
        self._write_snapshot(offset, term, data)
        conf = self.conf_at(offset)
        self.log.delete_records_before(offset + 1)
        self.snapshot_offset, self.snapshot_term, self.snapshot_data = offset, term, data
        self.confs = [(offset, conf)] + [c for c in self.confs if c[0] > offset]
        self.stage()

    def log_start_moved(self, epochs_before: list[tuple[int, int]]) -> None:
        """Retention moved the log start: remember the term of the new snapshot point,
        looked up in the epoch cache as it was before the segments went."""
        start = self.log.log_start_offset
        if start - 1 == self.snapshot_offset:
            return
        starts = [s for _, s in epochs_before]
        i = bisect.bisect_right(starts, start - 1) - 1
        self.snapshot_term = epochs_before[i][0] if i >= 0 else self.snapshot_term
        self.snapshot_offset = start - 1
        conf = self.conf_at(self.snapshot_offset)
        self.confs = [(self.snapshot_offset, conf)] + [
            c for c in self.confs if c[0] > self.snapshot_offset
        ]
        self.stage()
