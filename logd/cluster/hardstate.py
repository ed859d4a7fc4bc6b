"""Every Raft group's term and vote in one append-only file per broker: one fsync for all.

A vote must be durable before it is answered (Raft Figure 2). Written to each group's
side file (``raft_state.py``: tmp, fsync, rename, fsync the directory) that costs two
fsyncs per group and vote, and when thousands of groups elect at once -- a topic of
3,000 partitions created, a broker of 10,000 replicas killed -- the rounds took longer
than the election timeout, and elections stormed for minutes (issue 21). So the hard
state goes here instead, as CockroachDB and Redpanda keep theirs in one store per node:
every group's term/vote change of a driver pass becomes one appended record, and the pass
pays one ``fdatasync`` for all of them, however many groups voted.

Records: ``u32 length | u32 crc32 | body``; body = ``u16 name length | name | u64
incarnation | i64 term | i32 vote (-1: none) | i64 commit``. The latest record of a group
wins. The incarnation (a random id in the group's side file, chosen when the group's
directory was created) ties a record to one life of a partition: a topic deleted and
created again under the same name never reads its predecessor's vote. Loading stops at the
first record that is not whole and valid (a torn tail: nothing that depended on it was
sent, since messages leave only after the fsync) and cuts the file there.

The file is rewritten (tmp, fsync, rename, fsync the directory) with one record per group
once it is :data:`COMPACT_RATIO` times larger than that and above :data:`COMPACT_MIN_BYTES`.
A deleted partition's last record stays (its incarnation keeps it from being read again):
one small record per name ever used, never read, until a compaction after the name is
used again replaces it.

A failed fsync (issue 24): the file may have lost what the page cache held, and fsync is
never retried on it (a second fsync of the same pages can succeed with the data gone). The
journal instead rewrites the whole file from memory -- every group's latest record, tmp,
fsync, rename, fsync the directory: the compaction's path -- at once and, while that fails,
at every later flush; the flush that failed raises a typed error (the driver persists its
Readys again, nothing they promise leaves before). Only when even the file cannot be
reopened does the journal stop for good (:attr:`failed`: restart the broker).

Fsyncs: the journal has a Flusher of its own (one thread, group commit), so that a vote
never waits behind a round of thousands of log fsyncs in the broker's Flusher.

Thread-safety: ``stage`` runs on the loop, ``flush`` in the journal's Flusher thread; both
under one lock, which ``flush`` holds across its write and fsync (so a flush that returns
has made every record staged before it durable).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Final, NoReturn

from logd.errors import KafkaStorageError
from logd.storage import Flusher
from logd.storage.faults import check_write, checked_fsync
from logd.storage.files import Fsync, write_all, write_atomic
from logd.storage.io_errors import storage_error
from replication import HardState

__all__ = ["COMPACT_MIN_BYTES", "COMPACT_RATIO", "JOURNAL_FILE", "HardStateJournal"]

_log = logging.getLogger(__name__)

JOURNAL_FILE: Final = "raft-hardstate.log"
COMPACT_MIN_BYTES: Final = 4 * 1024 * 1024
COMPACT_RATIO: Final = 4
_HEAD: Final = struct.Struct(">II")  # body length, crc32 of the body
_FIXED: Final = struct.Struct(">QqiqH")  # incarnation, term, vote, commit, name length
_MAX_NAME: Final = 1024
_MAX_BODY: Final = _FIXED.size + _MAX_NAME


def encode_record(name: str, incarnation: int, hard: HardState) -> bytes:
    raw = name.encode()
    if len(raw) > _MAX_NAME:
        raise ValueError(f"group name of {len(raw)} bytes")
    vote = -1 if hard.vote is None else hard.vote
    body = _FIXED.pack(incarnation, hard.term, vote, hard.commit, len(raw)) + raw
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


def decode_records(data: bytes) -> tuple[dict[str, tuple[int, HardState]], int]:
    """Every group's latest (incarnation, hard state), and where the valid prefix ends."""
    out: dict[str, tuple[int, HardState]] = {}
    view = memoryview(data)
    pos = 0
    while pos + _HEAD.size <= len(view):
        length, crc = _HEAD.unpack_from(view, pos)
        start = pos + _HEAD.size
        if not _FIXED.size <= length <= _MAX_BODY or start + length > len(view):
            break
        body = view[start : start + length]
        if zlib.crc32(body) != crc:
            break
        incarnation, term, vote, commit, name_len = _FIXED.unpack_from(body)
        if _FIXED.size + name_len != length or term < 0 or vote < -1:
            break
        try:
            name = bytes(body[_FIXED.size :]).decode()
        except UnicodeDecodeError:
            break
        out[name] = (incarnation, HardState(term, None if vote < 0 else vote, commit))
        pos = start + length
    return out, pos


class HardStateJournal:
    """The broker's hard-state file; a ``Flushable`` for the storage Flusher."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL_FILE
        self._lock = threading.Lock()
        #: name -> the encoded record of the latest state (durable or staged).
        self._latest: dict[str, bytes] = {}
        #: name -> (incarnation, hard state): the latest, staged or durable.
        self._states: dict[str, tuple[int, HardState]] = {}
        self._pending: list[bytes] = []
        self._staged = 0  # sequence of the last staged record
        self._durable = 0  # sequence of the last record known durable
        self._size = 0
        self._fd = -1
        #: Why the journal stopped for good (it cannot be reopened); None while it works.
        self.failed: str | None = None
        #: Why the next flush must rewrite the file (a failed fsync); None otherwise.
        self.rewriting: str | None = None
        self._open()
        self._flusher = Flusher(name="logd-hardstate", workers=1)

    def request(self) -> concurrent.futures.Future[int]:
        """A future for everything staged so far being durable."""
        return self._flusher.request(self)

    def _open(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise KafkaStorageError(f"cannot read {self.path}: {exc}") from exc
        self._states, valid = decode_records(data)
        if valid < len(data):
            _log.warning("%s: dropping %d bytes of a torn or damaged tail",
                         self.path, len(data) - valid)  # fmt: skip
        for name, (incarnation, hard) in self._states.items():
            self._latest[name] = encode_record(name, incarnation, hard)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.ftruncate(self._fd, valid)
        except OSError as exc:
            raise KafkaStorageError(f"cannot open {self.path}: {exc}") from exc
        self._size = valid

    # -- the loop's side ---------------------------------------------------------------

    def get(self, name: str, incarnation: int) -> HardState | None:
        """The latest hard state of this life of group ``name`` (staged or durable; what a
        restarted process reads is the durable one), if any."""
        with self._lock:
            found = self._states.get(name)
        return found[1] if found is not None and found[0] == incarnation else None

    def stage(self, name: str, incarnation: int, hard: HardState) -> None:
        """Append ``hard`` at the next flush (a later stage of a group supersedes it)."""
        record = encode_record(name, incarnation, hard)
        with self._lock:
            self._states[name] = (incarnation, hard)
            self._latest[name] = record
            self._pending.append(record)
            self._staged += 1

    @property
    def dirty(self) -> bool:
        with self._lock:
            return self._staged > self._durable

    # -- the Flusher's side (Flushable) ------------------------------------------------

    @property
    def log_end_offset(self) -> int:
        return self._staged

    @property
    def recovery_point(self) -> int:
        return self._durable

    #: Everything a flush makes durable is counted by ``_staged``/``_durable``.
    metadata_unsynced = False

    def flush(self, fsync: Fsync = os.fdatasync) -> int:
        """Append what is staged, then fsync (issue 24's rule for a failure: a write that
        fails is undone -- the bytes written in part cut off, the records kept for the next
        flush -- and raises a typed error, the driver retries; a failed fsync: the file
        is rewritten, see the module doc)."""
        with self._lock:
            if self.failed is not None:
                raise KafkaStorageError(self.failed)
            if self._staged == self._durable or self._fd < 0:
                return self._durable  # nothing new, or closed (nobody waits any more)
            pending, self._pending = self._pending, []
            if self.rewriting is not None or (
                self._size > COMPACT_MIN_BYTES and self._size > COMPACT_RATIO * self._live()
            ):
                self._compact(fsync, pending)
            else:
                self._append(b"".join(pending), pending, fsync)
            self._durable = self._staged
            return self._durable

    def _append(self, data: bytes, pending: list[bytes], fsync: Fsync) -> None:
        try:
            check_write(self.path)
            write_all(self._fd, data)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError as again:
                self._fail("cutting a failed write", again)
            self._pending = pending + self._pending
            raise storage_error("appending to the hard-state journal", exc, self.path) from exc
        self._size += len(data)
        try:
            checked_fsync(self._fd, fsync)
        except OSError as exc:
            error = storage_error("fsync of the hard-state journal", exc, self.path)
            self.rewriting = str(error)
            _log.error("%s; rewriting the journal from memory", error)
            try:
                self._compact(fsync, [])
            except KafkaStorageError:
                raise error from exc

    def _fail(self, what: str, exc: OSError) -> NoReturn:
        error = storage_error(f"{what} of the hard-state journal", exc, self.path)
        self.failed = f"{error}: restart the broker"
        raise error from exc

    def _live(self) -> int:
        return sum(len(r) for r in self._latest.values())

    def _compact(self, fsync: Fsync, pending: list[bytes]) -> None:
        """Rewrite the file with each group's latest record (which includes everything
        staged so far); appends then go to the new file."""
        data = b"".join(self._latest.values())
        try:
            write_atomic(self.path, data, fsync=fsync)
        except OSError as exc:  # the old file is intact: keep the records, try again later
            self._pending = pending + self._pending
            raise storage_error("rewriting the hard-state journal", exc, self.path) from exc
        try:
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            self._fd = -1
            self._fail("reopening", exc)
        self._size = len(data)
        if self.rewriting is not None:
            _log.warning("%s: rewritten after a failed fsync (%d records); it works again",
                         self.path, len(self._latest))  # fmt: skip
            self.rewriting = None
        else:
            _log.info("%s: compacted to %d records", self.path, len(self._latest))

    def close(self) -> None:
        """Write what is staged, then close (the driver has stopped staging)."""
        self._flusher.stop()
        try:
            self.flush()
        except KafkaStorageError as exc:  # said; what it kept is not durable
            _log.error("%s: cannot write what is staged at close: %s", self.path, exc)
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
