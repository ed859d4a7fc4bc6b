"""Replacing old segments by cleaned ones so that a crash at any point leaves either the
old segments or the new ones, never a mix and never neither (Kafka's ``.cleaned`` /
``.swap`` protocol, ``LocalLog.replaceSegments``), with one commit for several groups.

The cleaner writes the new segments (``.log``, ``.index``, ``.timeindex``; one a group of
old segments, named by the group's first base offset) and a ``range`` file naming each
group's offsets ``[base, upper)`` into one directory ``<base>.cleaned/`` beside the
segments, and fsyncs the ``.log`` files, the ``range`` file and the directory -- not the
index files (see "Unsynced indexes" below).  Then, under the log's lock:

1. rename ``<base>.cleaned/`` to ``<base>.swap/`` and fsync the partition directory -- the
   commit point: before it the clean never happened, after it it must be finished;
2. retire the old segment files of every group: rename them to ``<name>.deleted``
   (Kafka's delayed deletion: the files, and the page cache they hold, are removed later,
   off the cleaner's path; see :class:`DeferredDeletes`);
3. move each file of ``<base>.swap/`` over its final name (``os.replace``, atomic);
4. remove ``<base>.swap/`` and fsync the partition directory.

:func:`recover` runs when a log opens, before its segments are listed: a ``.cleaned``
directory is an unfinished clean and goes; a ``.swap`` directory is a committed one and is
finished -- old segment files inside each group's range are retired and whatever is still
in the swap directory is moved in (what was moved already is the new file); then every
``*.deleted`` file goes.  Every step is idempotent, so a crash during recovery is
recovered the same way.

Unsynced indexes: a cleaned segment's index files are not fsynced by the clean (4 of its
12 fsyncs).  Instead the swap leaves a marker, ``<base>.<n>.unsynced-indexes``: a hard link
to the (fsynced) ``range`` file, made durable by step 4's directory fsync.  While a marker
names a segment, its index files may be torn after a crash -- and a time index missing its
last entry would pass the open's cheap sanity check and understate the segment's largest
timestamp (time retention would then delete it early) -- so :func:`unsynced_bases` tells the
loader which segments to rebuild from their ``.log`` at open, whether the last shutdown was
clean or not.  The log's close fsyncs the named index files, then :func:`clear_unsynced`
removes the markers.  A swap removes the markers whose ranges it replaced wholly, so a log
cleaned again and again keeps about one.

Stateless functions (and the small :class:`DeferredDeletes`); the caller holds the log's
lock (or owns the directory at open).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

from logd.storage.files import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SEGMENT_SUFFIXES,
    TIME_INDEX_SUFFIX,
    Fsync,
    fsync_dir,
    fsync_path,
    parse_segment_name,
    segment_path,
    write_atomic,
)

__all__ = [
    "CLEANED_SUFFIX",
    "DELETED_SUFFIX",
    "SWAP_SUFFIX",
    "UNSYNCED_SUFFIX",
    "DeferredDeletes",
    "Range",
    "SourceSegment",
    "cleaned_dir",
    "clear_unsynced",
    "commit_swap",
    "finish_swap",
    "prepare_cleaned",
    "recover",
    "seal_cleaned",
    "sync_unsynced",
    "unsynced_bases",
]

_log = logging.getLogger(__name__)


class SourceSegment(NamedTuple):
    """A sealed segment as the cleaner sees it, taken under the log's lock
    (``Log.cleanable_segments``): its own descriptor (a duplicate, closed by the cleaner),
    so a deletion meanwhile cannot close or reuse it under the cleaner's reads."""

    base_offset: int
    #: The next segment's base offset: the segment covers ``[base_offset, upper_offset)``.
    upper_offset: int
    size: int
    fd: int
    modified_ms: int
    max_timestamp: int


CLEANED_SUFFIX: Final = ".cleaned"
SWAP_SUFFIX: Final = ".swap"
DELETED_SUFFIX: Final = ".deleted"
UNSYNCED_SUFFIX: Final = ".unsynced-indexes"
_NOT_SYNCED_BY_SEAL: Final = (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
_RANGE: Final = "range"
#: ``(base, upper)``: a group of old segments ``[base, upper)``, replaced by one new
#: segment at ``base``.
Range = tuple[int, int]


def cleaned_dir(directory: Path, base_offset: int) -> Path:
    return directory / f"{base_offset:020d}{CLEANED_SUFFIX}"


def _swap_dir(directory: Path, base_offset: int) -> Path:
    return directory / f"{base_offset:020d}{SWAP_SUFFIX}"


def prepare_cleaned(directory: Path, base_offset: int) -> Path:
    """A fresh, empty ``<base>.cleaned/`` (a leftover of a failed clean is removed)."""
    path = cleaned_dir(directory, base_offset)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def seal_cleaned(path: Path, ranges: Sequence[Range], fsync: Fsync = os.fsync) -> None:
    """Record the ranges replaced and make every file of the cleaned segments durable."""
    text = "".join(f"{base} {upper}\n" for base, upper in ranges)
    # Made durable with the others below: one fsync per file, one for the directory.
    write_atomic(path / _RANGE, text.encode("ascii"), fsync=None)
    for name in os.listdir(path):
        if not name.endswith(_NOT_SYNCED_BY_SEAL):  # the swap's marker stands for them
            fsync_path(path / name, fsync)
    fsync_dir(path, fsync)


def commit_swap(directory: Path, base_offset: int, fsync: Fsync = os.fsync) -> Path:
    """Step 1: the atomic rename that commits the swap."""
    target = _swap_dir(directory, base_offset)
    os.rename(cleaned_dir(directory, base_offset), target)
    fsync_dir(directory, fsync)
    return target


def finish_swap(
    directory: Path, base_offset: int, ranges: Sequence[Range], fsync: Fsync
) -> list[Path]:
    """Steps 2 to 4 (each idempotent): old files of each range are retired, the new ones
    move in, the swap directory goes.  Returns the retired (``.deleted``) files."""
    swap = _swap_dir(directory, base_offset)
    _mark_unsynced(directory, swap, ranges)
    retired = []
    for name in os.listdir(directory):
        parsed = parse_segment_name(name)
        if parsed is not None and any(base < parsed[0] < upper for base, upper in ranges):
            retired.append(_retire(directory / name))
    for base, _ in ranges:
        for suffix in SEGMENT_SUFFIXES:
            target = segment_path(directory, base, suffix)
            moved = swap / target.name
            if moved.exists() or suffix != LOG_SUFFIX:
                # An index the cleaned segment never wrote (built lazily) must not outlive
                # its old log either.
                if target.exists():
                    retired.append(_retire(target))
                if moved.exists():
                    os.replace(moved, target)
    shutil.rmtree(swap)
    fsync_dir(directory, fsync)
    return retired


def _markers(directory: Path) -> list[Path]:
    return sorted(directory / n for n in os.listdir(directory) if n.endswith(UNSYNCED_SUFFIX))


def _marker_ranges(path: Path) -> list[Range]:
    """A marker's ranges; [] when unreadable (it is a link to an fsynced file: not torn)."""
    try:
        return _read_ranges(path, int(path.name.split(".", 1)[0]))
    except (OSError, ValueError) as exc:
        _log.error("%s: unreadable %s: %s", path.parent.name, path.name, exc)
        return []


def _mark_unsynced(directory: Path, swap: Path, ranges: Sequence[Range]) -> None:
    """Link the swap's ``range`` file in as a new marker (idempotent: a second run of a
    swap after a crash adds a twin, which the next swap or close removes) and drop the
    markers whose ranges this swap replaces wholly."""
    for marker in _markers(directory):
        old = _marker_ranges(marker)
        if old and all(any(b <= ob and ou <= u for b, u in ranges) for ob, ou in old):
            marker.unlink(missing_ok=True)
    number = len(_markers(directory))
    while True:
        name = f"{ranges[0][0]:020d}.{number}{UNSYNCED_SUFFIX}"
        try:
            os.link(swap / _RANGE, directory / name)
            return
        except FileExistsError:
            number += 1


def unsynced_bases(directory: Path) -> set[int]:
    """The base offsets of the segments whose index files a marker names."""
    return {base for marker in _markers(directory) for base, _ in _marker_ranges(marker)}


def sync_unsynced(directory: Path, fsync: Fsync = os.fsync) -> None:
    """fsync the index files the markers name (those still there), then
    :func:`clear_unsynced`.  The caller holds the log's lock at its close."""
    for base in sorted(unsynced_bases(directory)):
        for suffix in _NOT_SYNCED_BY_SEAL:
            fsync_path(segment_path(directory, base, suffix), fsync)
    clear_unsynced(directory, fsync)


def clear_unsynced(directory: Path, fsync: Fsync = os.fsync) -> None:
    """Remove every marker (their index files are durable now) durably."""
    markers = _markers(directory)
    for marker in markers:
        marker.unlink(missing_ok=True)
    if markers:
        fsync_dir(directory, fsync)


def _retire(path: Path) -> Path:
    retired = path.with_name(path.name + DELETED_SUFFIX)
    os.replace(path, retired)
    return retired


def recover(directory: Path, fsync: Fsync = os.fsync) -> None:
    """Finish committed swaps and drop unfinished cleans (see the module doc)."""
    for name in sorted(os.listdir(directory)):
        path = directory / name
        if name.endswith(CLEANED_SUFFIX) and path.is_dir():
            _log.info("%s: dropping an unfinished clean (%s)", directory.name, name)
            shutil.rmtree(path)
        elif name.endswith(SWAP_SUFFIX) and name[: -len(SWAP_SUFFIX)].isdigit():
            base = int(name[: -len(SWAP_SUFFIX)])
            try:
                ranges = _read_ranges(path / _RANGE, base)
            except (OSError, ValueError):
                # seal_cleaned made the range durable before the rename: this is not ours.
                _log.error("%s: %s has no readable range; left alone", directory.name, name)
                continue
            _log.warning("%s: finishing the swap of a clean at %d", directory.name, base)
            finish_swap(directory, base, ranges, fsync)
    for name in os.listdir(directory):  # retired files, by the swaps above too
        if name.endswith(DELETED_SUFFIX):
            (directory / name).unlink(missing_ok=True)


def _read_ranges(path: Path, base: int) -> list[Range]:
    """The ``range`` file: ``base upper`` a line (one group, before 2026-12: ``upper``)."""
    ranges: list[Range] = []
    for line in path.read_text("ascii").splitlines():
        fields = [int(field) for field in line.split()]
        if len(fields) == 1:
            ranges.append((base, fields[0]))
        elif len(fields) == 2:
            ranges.append((fields[0], fields[1]))
        else:
            raise ValueError(f"bad range line {line!r}")
    if not ranges:
        raise ValueError("no range")
    return ranges


class DeferredDeletes:
    """Retired segment files, deleted once their delay has passed (Kafka's
    ``file.delete.delay.ms``): the unlink of a large file frees its page cache, which costs
    the deleting thread time, so it happens off the swap (the cleaner's next round, or the
    log's close).  Thread-safe; a file missing already is fine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: list[tuple[int, Path]] = []

    def add(self, paths: Sequence[Path], due_ms: int) -> None:
        with self._lock:
            self._due.extend((due_ms, path) for path in paths)

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)

    def purge(self, now_ms: int | None = None) -> int:
        """Delete the files due at ``now_ms`` (None: all); how many went."""
        with self._lock:
            due = [p for t, p in self._due if now_ms is None or t <= now_ms]
            self._due = [(t, p) for t, p in self._due if now_ms is not None and t > now_ms]
        for path in due:
            path.unlink(missing_ok=True)
        return len(due)
