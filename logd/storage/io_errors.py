"""The one boundary where a disk's ``OSError`` becomes a typed storage error (Kafka's
``LocalLog.maybeHandleIOException``).

Every write path of the broker -- segment appends and rolls, indexes, the leader-epoch and
recovery-point checkpoints, producer snapshots, the Raft side files and the metadata log, the
cleaner's swap, a new partition's directory -- catches ``OSError`` and raises what
:func:`storage_error` returns: a :class:`~logd.errors.KafkaStorageError` (KAFKA_STORAGE_ERROR,
retriable) whose message names the file, the operation and the failure in words
(``ENOSPC`` -> "the disk is full", ``EIO`` -> "an I/O error", ``EROFS`` -> "the filesystem is
read-only"). A full disk is a :class:`DiskFullError` (the same wire code).

What happens to the object that failed is the caller's rule (a log rolls its append back,
or goes offline when it cannot; see ``logd.storage.log``); what this module adds is that
every such failure is *heard*: observers registered with :func:`add_observer` (the data
directory's :class:`~logd.storage.space.DiskSpace`, which turns an ENOSPC into "below the
reserve" at once) are told of each one, with the path, whatever layer met it.

Thread-safe: observers are called on the thread that met the error and must be quick.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from logd.errors import DiskFullError, KafkaStorageError

__all__ = [
    "DiskFullError",
    "IoObserver",
    "add_observer",
    "describe_errno",
    "is_disk_full",
    "remove_observer",
    "storage_error",
]

#: ``observer(path, exc)``: an OSError was met on ``path`` (see the module doc).
IoObserver = Callable[[Path, OSError], None]

_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
_WORDS: Final[dict[int, str]] = {
    errno.ENOSPC: "the disk is full (ENOSPC)",
    errno.EDQUOT: "the disk quota is exhausted (EDQUOT)",
    errno.EIO: "an I/O error (EIO)",
    errno.EROFS: "the filesystem is read-only (EROFS)",
    errno.EMFILE: "too many open files (EMFILE)",
    errno.ENFILE: "too many open files in the system (ENFILE)",
    errno.EACCES: "permission denied (EACCES)",
    errno.EPERM: "operation not permitted (EPERM)",
}

_observers: list[IoObserver] = []
_lock = threading.Lock()


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in _FULL)


def describe_errno(exc: OSError) -> str:
    """The failure in words, with its errno name."""
    words = _WORDS.get(exc.errno or 0)
    if words is not None:
        return words
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


def storage_error(what: str, exc: OSError, path: Path | str) -> KafkaStorageError:
    """The typed error for ``exc``, met while doing ``what`` to ``path``; observers hear of
    it first. Raise it ``from exc``."""
    where = Path(path)
    with _lock:
        observers = list(_observers)
    for observer in observers:
        observer(where, exc)
    message = f"{where}: {what} failed: {describe_errno(exc)}"
    if exc.errno in _FULL:
        return DiskFullError(message)
    return KafkaStorageError(message)


def add_observer(observer: IoObserver) -> None:
    with _lock:
        _observers.append(observer)


def remove_observer(observer: IoObserver) -> None:
    with _lock:
        if observer in _observers:
            _observers.remove(observer)
