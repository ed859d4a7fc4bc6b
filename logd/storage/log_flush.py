"""Making a partition's log durable: ``flush`` fsyncs what was appended (on duplicated
descriptors, outside the lock) and moves the recovery point; ``close`` flushes and writes
every index and checkpoint (what a clean shutdown promises); ``discard`` closes without
writing. A failed fsync takes the log offline (no retry: the page cache may hold what the
disk does not). A mixin of :class:`~logd.storage.log.Log` (see ``logd.storage.log_core``).

Ownership: as the Log's; ``flush`` runs in the Flusher's thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from logd.errors import KafkaStorageError
from logd.storage import swap
from logd.storage.faults import checked_fsync
from logd.storage.files import Fsync, fsync_dir, fsync_path
from logd.storage.io_errors import storage_error
from logd.storage.log_core import LogCore, LogState
from logd.storage.segment import Segment

__all__ = ["LogFlush"]

_log = logging.getLogger(__name__)


class LogFlush(LogCore):
    """Flush, close, discard; see the module doc."""

    # -- durability ----------------------------------------------------------------------

    def flush(self, fsync: Fsync = os.fdatasync) -> int:
        """fsync everything appended so far; returns the offset now durable up to.

        Safe from any thread; see the module doc for how it avoids holding the lock.
        """
        with self._lock:
            if self._state is LogState.CLOSED:
                return self._next_offset
            self._check_open()
            end, generation = self._next_offset, self._rp.truncations
            sealed = list(self._unflushed)
            fds: list[int] = []
            try:
                for segment in (*sealed, self._segments.last()):
                    fds.append(segment.dup_fd())
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                self._fail("fsync", exc)
            paths = [path for segment in sealed for path in segment.index_paths]
            try:
                self._epochs.write_if_changed()  # what appends left for us (see above)
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                # The old checkpoint is intact (write_atomic) and the change still pending:
                # this flush fails, the next one writes it (issue 24: a full disk).
                self._refuse("writing the leader epoch checkpoint", exc)
            epochs_generation = self._epochs.generation if self._epochs.unsynced else None
            sync_dir, self._dir_unsynced = self._dir_unsynced, False
        try:
            for fd in fds:
                checked_fsync(fd, fsync)
            for path in paths:
                fsync_path(path, fsync)
            if epochs_generation is not None:
                fsync_path(self._epochs.path, fsync)
            if sync_dir or epochs_generation is not None:
                fsync_dir(self.directory, fsync)
        except OSError as exc:
            with self._lock:
                self._fail("fsync", exc)
        finally:
            for fd in fds:
                os.close(fd)
        self._publish_flush(end, generation, sealed, epochs_generation, fsync)
        return end

    def _publish_flush(
        self,
        end: int,
        generation: int,
        sealed: list[Segment],
        epochs_generation: int | None,
        fsync: Fsync,
    ) -> None:
        with self._rp.lock:
            with self._lock:
                for segment in sealed:
                    if segment in self._unflushed:
                        self._unflushed.remove(segment)
                if epochs_generation is not None:
                    synced = max(self._epochs.synced_generation, epochs_generation)
                    self._epochs.synced_generation = synced
                self._rp.advance(end, generation)
                self._flushed_truncations = max(self._flushed_truncations, generation)
                point = self._rp.value
                write = self._rp.needs_write(point, self._segments.floor)
            if write:
                try:
                    self._rp.write(point, fsync)
                except OSError as exc:
                    # The data is durable; only the checkpoint lags (recovery then re-scans
                    # a little more). Said once, tried again at the next flush.
                    error = storage_error("recovery point checkpoint", exc, self.directory)
                    if not self._rp_failing:
                        _log.warning("%s: %s; the next flush tries again", self.name, error)
                    self._rp_failing = True
                else:
                    self._rp_failing = False

    # -- closing -------------------------------------------------------------------------

    def close(self, fsync: Fsync = os.fdatasync) -> None:
        """Flush everything, write the indexes and checkpoints, close the files.

        After a close every file is durable and consistent, which is what the data
        directory's clean-shutdown marker promises the next open.  A log that is (or goes)
        offline is closed without writing; :attr:`offline_reason` then says why, and its
        owner must not promise a clean shutdown.
        """
        if self._state is not LogState.OPEN:
            return
        if self._offline is None:
            with contextlib.suppress(KafkaStorageError):  # now offline: closed below as such
                self.flush(fsync)
        with self._checkpoint_lock, self._lock:
            if self._state is not LogState.OPEN:
                return
            self._state = LogState.CLOSED
            self._writable = False
            if self._offline is not None:
                for segment in self._segments:
                    segment.close_quietly()
                return
            try:
                self._close_locked(fsync)
            except OSError as exc:
                self._offline = f"close failed: {exc}"
        with contextlib.suppress(OSError):  # else the next open removes them
            self.retired.purge()

    def _close_locked(self, fsync: Fsync) -> None:
        written: list[Path] = []
        for segment in self._segments:
            written.extend(segment.close())
        for path in written:
            fsync_path(path, fsync)
        swap.sync_unsynced(self.directory, fsync)  # a clean's index files, then its markers
        self._epochs.write_if_changed()
        fsync_path(self._epochs.path, fsync)
        self._rp.value = self._next_offset
        self._rp.write(self._next_offset, fsync)

    def discard(self) -> None:
        """Close the files without writing anything: the log's directory is being deleted."""
        with self._checkpoint_lock, self._lock:
            if self._state is LogState.OPEN:
                for segment in self._segments:
                    segment.close_quietly()
            self._state = LogState.DELETED
            self._writable = False
