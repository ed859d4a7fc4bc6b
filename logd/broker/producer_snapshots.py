"""Producer-state snapshot files and the rebuild of producer state from a log.

A snapshot ``<partition dir>/<20-digit offset>.snapshot`` (Kafka's name and place) holds
a partition's producer state as of that offset: every batch below it observed. The
partition writes one when its log rolls a segment and at a clean shutdown; this module
keeps the newest :data:`SNAPSHOTS_KEPT`.

:func:`rebuild` is what recovery, a new leader, and a follower after a truncation run: it
drops snapshots past the log end (a crash or a truncation took that data back), loads the
newest intact snapshot at or below the log end (a damaged one is deleted and the next
older tried), and observes the header of every batch from there to the log end
(``Log.scan_headers``: headers only, records never read). Without a snapshot it scans
from the log start.

Blocking file I/O; functions, no state. Call from the thread that owns the manager (the
event loop: snapshots are small and rebuilds rare) or hand it the bytes to write
(:func:`write_snapshot` runs in a worker thread).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Final

from logd.broker.producer_state import ProducerStateManager
from logd.errors import KafkaStorageError
from logd.storage import Log
from logd.storage.files import write_atomic
from logd.storage.io_errors import storage_error

__all__ = [
    "SNAPSHOTS_KEPT",
    "SNAPSHOT_SUFFIX",
    "delete_snapshots_above",
    "list_snapshots",
    "rebuild",
    "snapshot_path",
    "write_snapshot",
]

_log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX: Final = ".snapshot"
SNAPSHOTS_KEPT: Final = 2
#: A snapshot is a few dozen bytes per producer; anything far larger is not ours.
_MAX_SNAPSHOT_BYTES: Final = 256 * 1024 * 1024
_NAME: Final = re.compile(r"([0-9]{20})\.snapshot")


def snapshot_path(directory: Path, offset: int) -> Path:
    assert 0 <= offset < 10**20, offset
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def list_snapshots(directory: Path) -> list[int]:
    """Offsets of the snapshots in ``directory``, ascending."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    offsets = [int(m.group(1)) for m in map(_NAME.fullmatch, names) if m is not None]
    return sorted(offsets)


def write_snapshot(directory: Path, offset: int, data: bytes) -> None:
    """Write a snapshot atomically, then delete all but the newest :data:`SNAPSHOTS_KEPT`.

    No fsync: a snapshot lost or torn by a crash only means a longer scan (its CRC tells).
    A directory deleted meanwhile (its topic went) is no error; any other OSError (a full
    disk) is a typed storage error (``io_errors``): the caller says it and goes on, a
    missing snapshot costs only a longer scan.
    """
    path = snapshot_path(directory, offset)
    try:
        write_atomic(path, data, fsync=None)
        for old in list_snapshots(directory)[:-SNAPSHOTS_KEPT]:
            snapshot_path(directory, old).unlink(missing_ok=True)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise storage_error("writing a producer snapshot", exc, path) from exc


def delete_snapshots_above(directory: Path, offset: int) -> None:
    """Delete the snapshots of data past ``offset`` (a truncation took it back)."""
    for found in list_snapshots(directory):
        if found > offset:
            snapshot_path(directory, found).unlink(missing_ok=True)


def _load_newest(state: ProducerStateManager, directory: Path, end: int) -> int | None:
    """Load the newest intact snapshot at or below ``end``; its offset, or None."""
    for offset in reversed(list_snapshots(directory)):
        path = snapshot_path(directory, offset)
        try:
            if path.stat().st_size > _MAX_SNAPSHOT_BYTES:
                raise KafkaStorageError(f"{path.name} is too large to be a producer snapshot")
            loaded = state.load_snapshot(path.read_bytes())
            if loaded != offset:
                raise KafkaStorageError(f"{path.name} claims offset {loaded}")
            return offset
        except (OSError, KafkaStorageError) as exc:
            _log.warning("%s: ignoring producer snapshot %s: %s", state.name, path.name, exc)
            path.unlink(missing_ok=True)
    return None


def rebuild(state: ProducerStateManager, log: Log, now_ms: int) -> int:
    """Rebuild ``state`` from ``log`` (see the module doc); returns how many batch headers
    were scanned. Raises KafkaStorageError when the log cannot be read."""
    end = log.log_end_offset
    try:
        delete_snapshots_above(log.directory, end)
    except OSError as exc:
        raise KafkaStorageError(f"{log.name}: cannot list producer snapshots: {exc}") from exc
    state.clear()
    start = _load_newest(state, log.directory, end)
    if start is None:
        start = log.log_start_offset
    scanned = 0

    def on_batch(fields: tuple[int, ...]) -> None:
        nonlocal scanned
        scanned += 1
        state.observe_fields(fields, now_ms)

    if start < end:
        log.scan_headers(start, on_batch)
    return scanned
