"""Replacing old segments by a cleaned one so that a crash at any point leaves either the
old segments or the new one, never a mix and never neither (Kafka's ``.cleaned`` /
``.swap`` protocol, ``LocalLog.replaceSegments``).

The cleaner writes the new segment (``.log``, ``.index``, ``.timeindex``) and a ``range``
file naming the offsets it replaces, ``[base, upper)``, into the directory
``<base>.cleaned/`` beside the segments, and fsyncs them.  Then, under the log's lock:

1. rename ``<base>.cleaned/`` to ``<base>.swap/`` and fsync the partition directory -- the
   commit point: before it the clean never happened, after it it must be finished;
2. delete the old segments of ``[base, upper)``;
3. move each file of ``<base>.swap/`` over its final name (``os.replace``, atomic);
4. remove ``<base>.swap/`` and fsync the partition directory.

:func:`recover` runs when a log opens, before its segments are listed: a ``.cleaned``
directory is an unfinished clean and goes; a ``.swap`` directory is a committed one and is
finished -- old segment files of ``(base, upper)`` are deleted and whatever is still in the
swap directory is moved in (what was moved already is the new file).  Every step is
idempotent, so a crash during recovery is recovered the same way.

Stateless functions; the caller holds the log's lock (or owns the directory at open).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Final, NamedTuple

from logd.storage.files import (
    SEGMENT_SUFFIXES,
    Fsync,
    fsync_dir,
    fsync_path,
    parse_segment_name,
    segment_path,
    write_atomic,
)

__all__ = [
    "CLEANED_SUFFIX",
    "SWAP_SUFFIX",
    "SourceSegment",
    "cleaned_dir",
    "commit_swap",
    "finish_swap",
    "prepare_cleaned",
    "recover",
    "seal_cleaned",
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
_RANGE: Final = "range"


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


def seal_cleaned(path: Path, upper_offset: int, fsync: Fsync = os.fsync) -> None:
    """Record the range replaced and make every file of the cleaned segment durable."""
    # Made durable with the others below: one fsync per file, one for the directory.
    write_atomic(path / _RANGE, f"{upper_offset}\n".encode("ascii"), fsync=None)
    for name in os.listdir(path):
        fsync_path(path / name, fsync)
    fsync_dir(path, fsync)


def commit_swap(directory: Path, base_offset: int, fsync: Fsync = os.fsync) -> Path:
    """Step 1: the atomic rename that commits the swap."""
    target = _swap_dir(directory, base_offset)
    os.rename(cleaned_dir(directory, base_offset), target)
    fsync_dir(directory, fsync)
    return target


def finish_swap(directory: Path, base_offset: int, upper_offset: int, fsync: Fsync) -> None:
    """Steps 2 to 4 (each idempotent): old files of ``(base, upper)`` go, the new ones
    move in, the swap directory goes."""
    swap = _swap_dir(directory, base_offset)
    for name in os.listdir(directory):
        parsed = parse_segment_name(name)
        if parsed is not None and base_offset < parsed[0] < upper_offset:
            (directory / name).unlink(missing_ok=True)
    for suffix in SEGMENT_SUFFIXES:
        moved = swap / segment_path(swap, base_offset, suffix).name
        if moved.exists():
            os.replace(moved, segment_path(directory, base_offset, suffix))
        elif suffix != SEGMENT_SUFFIXES[0]:
            # Never written (an index built lazily): the old one must not outlive its log.
            segment_path(directory, base_offset, suffix).unlink(missing_ok=True)
    shutil.rmtree(swap)
    fsync_dir(directory, fsync)


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
                upper = int((path / _RANGE).read_text("ascii"))
            except (OSError, ValueError):
                # seal_cleaned made the range durable before the rename: this is not ours.
                _log.error("%s: %s has no readable range; left alone", directory.name, name)
                continue
            _log.warning("%s: finishing the swap of a clean at %d", directory.name, base)
            finish_swap(directory, base, upper, fsync)
