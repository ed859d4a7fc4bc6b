"""Starting a file's write-out early, before its fsync: ``sync_file_range(..., WRITE)``.

Why (issue 22). An acks=all append at RF=1 is answered after the Flusher's fdatasync of
the partition's log. The event loop asks for that fsync; the Flusher's thread, woken, must
first take the GIL, which the loop holds to the end of its turn (~0.4 ms on this machine:
the trace's "flush began" step), and only then does the fdatasync write the data page and
commit the journal. Asking the kernel to start writing the dirty pages when the fsync is
requested -- in the caller's thread, before the Flusher wakes -- lets the page write
overlap that wait: fdatasync after a 200 B append, 8 files, 4 threads, 0.4 ms between the
write and the fsync, p50 0.39-0.44 -> 0.26-0.33 ms with the kick (each kick ~0.025 ms;
/work/notes/issue-22-tools/prekick.py, bench/README.md "Session 9: RF=1 path").

A hint, never a durability step: what is acknowledged is still only what the fdatasync
that follows made durable, and a failure here is ignored (that fdatasync reports it).
``SYNC_FILE_RANGE_WRITE`` alone starts write-out of the dirty pages not already under
write-out and does not wait for it (sync_file_range(2)); RocksDB's ``bytes_per_sync``
uses the same call to keep its later fsyncs short.

Python's ``os`` has no ``sync_file_range``: it is called through ``ctypes`` from the C
library (Linux; ctypes releases the GIL for the call). Where the C library has none, the
hint does nothing.

Thread-safety: any thread; the caller keeps ``fd`` open for the call.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Final

__all__ = ["start_writeout", "supported"]

#: ``<fcntl.h>``: start write-out of dirty pages not already under write-out; no wait.
SYNC_FILE_RANGE_WRITE: Final = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_SYNC_FILE_RANGE = _load()


def supported() -> bool:
    """Whether this system starts write-out early (else :func:`start_writeout` does nothing)."""
    return _SYNC_FILE_RANGE is not None


def start_writeout(fd: int) -> None:
    """Start writing ``fd``'s dirty pages to the disk now, without waiting (a hint)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, SYNC_FILE_RANGE_WRITE)  # a failure: the fsync tells
