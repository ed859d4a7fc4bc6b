"""Disk faults on demand (tests only; the broker arms them through ``InjectFault``, which
only a broker started with ``--enable-fault-injection`` on loopback serves).

* :meth:`IoFaults.fail_writes` -- the next ``count`` writes to files whose path contains
  ``match`` fail with ``errno`` (EIO, ENOSPC, EROFS ...) before a byte is written;
* :meth:`IoFaults.fail_fsyncs` -- the same for fsyncs;
* :attr:`IoFaults.fsync_delay_s` -- every fsync sleeps this long first (a slow disk).

The write primitives of the storage layer call :func:`check_write` with the path they are
about to write (segment appends, index files, every atomically replaced file, a new
partition's directory) and fsyncs go through :func:`checked_fsync`; when nothing is armed
that is one attribute read. One table per process (:data:`FAULTS`): a broker is a process.

Thread-safe (a lock around the counters).
"""

from __future__ import annotations

import dataclasses
import errno as errno_module
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FAULTS", "IoFaults", "check_write", "checked_fsync"]


@dataclasses.dataclass
class _Armed:
    match: str
    errno: int
    remaining: int


class IoFaults:
    """The armed faults of this process; see the module doc."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: list[_Armed] = []
        self._fsyncs: list[_Armed] = []
        #: Set while anything is armed: the fast path reads only this.
        self.armed = False
        self.fsync_delay_s = 0.0
        #: How many operations failed on purpose (for the test's report).
        self.fired = 0

    def fail_writes(self, match: str, error: int, count: int) -> None:
        self._arm(self._writes, match, error, count)

    def fail_fsyncs(self, match: str, error: int, count: int) -> None:
        self._arm(self._fsyncs, match, error, count)

    def set_fsync_delay(self, seconds: float) -> None:
        with self._lock:
            self.fsync_delay_s = max(0.0, seconds)
            self._update()

    def clear(self) -> None:
        with self._lock:
            self._writes.clear()
            self._fsyncs.clear()
            self.fsync_delay_s = 0.0
            self._update()

    def _arm(self, table: list[_Armed], match: str, error: int, count: int) -> None:
        if error not in errno_module.errorcode:
            raise ValueError(f"unknown errno {error}")
        with self._lock:
            if count > 0:
                table.append(_Armed(match, error, count))
            self._update()

    def _update(self) -> None:
        self.armed = bool(self._writes or self._fsyncs or self.fsync_delay_s)

    def pending(self) -> int:
        with self._lock:
            return sum(a.remaining for a in (*self._writes, *self._fsyncs))

    def fire(self, table_name: str, path: str) -> None:
        """Raise the armed OSError for ``path`` if one matches (and count it down)."""
        table = self._writes if table_name == "write" else self._fsyncs
        with self._lock:
            for armed in table:
                if armed.match in path:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        table.remove(armed)
                    self.fired += 1
                    self._update()
                    raise OSError(armed.errno, os.strerror(armed.errno), path)


FAULTS = IoFaults()


def check_write(path: Path | str) -> None:
    """Called by every write primitive before it writes ``path``."""
    if FAULTS.armed:
        FAULTS.fire("write", str(path))


def checked_fsync(fd: int, fsync: Callable[[int], None] = os.fdatasync) -> None:
    """``fsync(fd)``, after the armed delay and failures (the path comes from /proc)."""
    if FAULTS.armed:
        delay = FAULTS.fsync_delay_s
        if delay:
            time.sleep(delay)
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        FAULTS.fire("fsync", path)
    fsync(fd)
