"""Opening a partition directory: segments, checkpoints and crash recovery (Kafka's ``LogLoader``).

After a clean shutdown every file is trusted, but each index still gets Kafka's cheap sanity
check (whole entries, last entry inside the segment) and is rebuilt if it fails, and the
last segment's tail is walked to learn where the log ends.

After an unclean one, the segment holding the persisted recovery point and every later
segment are re-scanned batch by batch with their CRCs (:meth:`Segment.recover`).  The scan
stops at the first batch that is not whole and valid, cuts the file there and deletes every
later segment, because a log is a prefix: nothing after a hole can be trusted or reached.
Every segment before the recovery point was fsynced with its indexes before the recovery
point moved past it, so those are only sanity-checked like after a clean shutdown -- except
the cleaner's, whose index files are fsynced only at the log's close: while a marker names
them (``logd.storage.swap``, "Unsynced indexes") they are rebuilt from the ``.log``.

The leader-epoch cache drops what it says about the re-scanned range and relearns it from
the batches; a missing or unreadable checkpoint is rebuilt from every segment.  A log start
offset checkpoint above the log's end means a ``reset_to`` was interrupted: it is finished.

Runs in the thread that opens the log, before anyone else can see it.
"""

from __future__ import annotations

import bisect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from logd.errors import KafkaStorageError
from logd.storage import checkpoint, swap
from logd.storage.config import LogConfig
from logd.storage.epochs import CHECKPOINT_NAME, LeaderEpochCache
from logd.storage.files import LOG_SUFFIX, TMP_SUFFIX, parse_segment_name
from logd.storage.recovery_point import RECOVERY_POINT_CHECKPOINT
from logd.storage.scan import BatchInfo
from logd.storage.segment import Segment
from logd.storage.segments import Segments

__all__ = [
    "LOG_START_CHECKPOINT",
    "LoadedLog",
    "load",
    "read_offset_checkpoint",
]

_log = logging.getLogger(__name__)

LOG_START_CHECKPOINT: Final = "log-start-offset-checkpoint"


@dataclass
class LoadedLog:
    """What a log needs to start from; the segments are open, the last one ACTIVE."""

    segments: Segments[Segment]
    epochs: LeaderEpochCache
    log_start_offset: int
    #: Every offset below it is durable; recovery will re-scan from its segment.
    recovery_point: int
    #: Sealed segments that were re-scanned but are not known to be fsynced.
    unflushed: list[Segment]
    #: Bytes recovery cut off (0 after a clean shutdown).
    truncated_bytes: int = 0
    #: What the recovery point checkpoint file says (None: missing or unreadable).
    persisted_recovery_point: int | None = None


def read_offset_checkpoint(path: Path) -> int | None:
    """The single offset a checkpoint file holds, None if it is missing or unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    entries = checkpoint.decode(data, 1)
    if entries is None or len(entries) != 1 or entries[0][0] < 0:
        _log.warning("ignoring unreadable checkpoint %s", path)
        return None
    return entries[0][0]


def _segment_bases(directory: Path) -> list[int]:
    """Base offsets of the ``.log`` files; removes temporaries and indexes without a log."""
    names = os.listdir(directory)
    bases = set()
    for name in names:
        parsed = parse_segment_name(name)
        if parsed is not None and parsed[1] == LOG_SUFFIX:
            bases.add(parsed[0])
    for name in names:
        parsed = parse_segment_name(name)
        orphan = parsed is not None and parsed[0] not in bases
        if orphan or name.endswith(TMP_SUFFIX):
            (directory / name).unlink(missing_ok=True)
    return sorted(bases)


def load(directory: Path, config: LogConfig, now_ms: int, *, clean: bool) -> LoadedLog:
    """Open every segment of ``directory``, recovering after an unclean shutdown."""
    swap.recover(directory)  # a clean the cleaner committed is finished first
    bases = _segment_bases(directory)
    log_start = read_offset_checkpoint(directory / LOG_START_CHECKPOINT) or 0
    epochs = LeaderEpochCache.load(directory / CHECKPOINT_NAME)
    rebuild_epochs = epochs is None
    if epochs is None:
        _log.info("%s: rebuilding the leader epoch cache from the segments", directory.name)
        epochs = LeaderEpochCache(directory / CHECKPOINT_NAME)
    persisted = read_offset_checkpoint(directory / RECOVERY_POINT_CHECKPOINT)
    segments: Segments[Segment] = Segments()
    if not bases:
        segments.add(Segment.create(directory, log_start, config, now_ms))
        loaded = LoadedLog(segments, epochs, log_start, log_start, [], 0, persisted)
        return _finish(loaded, directory, config, now_ms)
    recover_from: int | None = None
    if not clean:
        point = persisted
        recover_from = (
            bases[max(bisect.bisect_right(bases, point) - 1, 0)] if point is not None else bases[0]
        )
    recover_from = _open_segments(
        directory, config, now_ms, bases=bases, recover_from=recover_from, segments=segments,
        unsynced=swap.unsynced_bases(directory),
    )  # fmt: skip
    if recover_from is None:
        try:
            segments.last().activate()
        except KafkaStorageError as exc:
            _log.warning("%s: %s; recovering the last segment", directory.name, exc)
            recover_from = segments.last().base_offset
    if rebuild_epochs:
        recover_from = _rebuild_epochs(segments, epochs, recover_from)
    if recover_from is None:
        loaded = LoadedLog(segments, epochs, log_start, segments.last().next_offset or 0, [])
    else:
        loaded = _recover(segments, epochs, recover_from, directory.name)
        loaded.log_start_offset = log_start
    loaded.persisted_recovery_point = persisted
    return _finish(loaded, directory, config, now_ms)


def _open_segments(
    directory: Path,
    config: LogConfig,
    now_ms: int,
    *,
    bases: list[int],
    recover_from: int | None,
    segments: Segments[Segment],
    unsynced: set[int],
) -> int | None:
    """Open each segment; one whose data is damaged starts the recovery range.  Those in
    ``unsynced`` (cleaned, their index files maybe torn: ``logd.storage.swap``) get their
    indexes rebuilt from the ``.log``."""
    for base in bases:
        trusted = recover_from is None or base < recover_from
        try:
            segment = Segment.open(
                directory, base, config, now_ms, check_indexes=trusted,
                rebuild_indexes=trusted and base in unsynced,
            )  # fmt: skip
        except KafkaStorageError as exc:
            _log.warning("%s: %s; recovering from segment %d", directory.name, exc, base)
            recover_from = base
            segment = Segment.open(directory, base, config, now_ms, check_indexes=False)
        segments.add(segment)
    previous: Segment | None = None
    for segment in segments:
        if previous is not None:
            previous.upper_offset = segment.base_offset
        previous = segment
    return recover_from


def _rebuild_epochs(
    segments: Segments[Segment], epochs: LeaderEpochCache, recover_from: int | None
) -> int | None:
    """Relearn the epochs of the trusted segments (recovery relearns the rest)."""

    def on_batch(epoch: int, base: int) -> None:
        latest = epochs.latest_epoch
        if epoch >= 0 and (latest is None or epoch > latest):
            epochs.assign(epoch, base)

    for segment in segments:
        if recover_from is not None and segment.base_offset >= recover_from:
            break
        try:
            segment.walk_epochs(on_batch)
        except KafkaStorageError:
            epochs.truncate_from_end(segment.base_offset)
            return segment.base_offset
    return recover_from


def _recover(
    segments: Segments[Segment], epochs: LeaderEpochCache, recover_from: int, name: str
) -> LoadedLog:
    """Re-scan from ``recover_from``: cut at the first bad batch, drop what follows."""
    epochs.truncate_from_end(recover_from)

    def on_batch(info: BatchInfo) -> None:
        latest = epochs.latest_epoch
        if info.epoch >= 0 and (latest is None or info.epoch > latest):
            epochs.assign(info.epoch, info.base_offset)

    recovered: list[Segment] = []
    truncated = 0
    next_offset = recover_from
    rescan = segments.from_offset(recover_from)
    for i, segment in enumerate(rescan):
        if segment.base_offset < next_offset:
            _delete(segments, rescan[i:], name)
            break
        min_epoch = epochs.latest_epoch
        result = segment.recover(next_offset, -1 if min_epoch is None else min_epoch, on_batch)
        recovered.append(segment)
        assert segment.next_offset is not None
        next_offset = segment.next_offset
        if result.truncated:
            truncated += result.truncated
            _log.warning(
                "%s: cut %d bytes off segment %d at offset %d (%s)",
                name,
                result.truncated,
                segment.base_offset,
                next_offset,
                result.reason,
            )
            _delete(segments, rescan[i + 1 :], name)
            break
    for segment in recovered[:-1]:
        segment.seal()
    return LoadedLog(segments, epochs, 0, recover_from, recovered[:-1], truncated)


def _delete(segments: Segments[Segment], doomed: list[Segment], name: str) -> None:
    for segment in doomed:
        _log.warning("%s: deleting segment %d after the damage", name, segment.base_offset)
        segments.remove(segment)
        segment.delete()


def _finish(loaded: LoadedLog, directory: Path, config: LogConfig, now_ms: int) -> LoadedLog:
    """Settle the log start offset and the epoch cache against the segments."""
    segments = loaded.segments
    log_end = segments.last().next_offset
    assert log_end is not None
    log_start = max(loaded.log_start_offset, segments.first().base_offset)
    if log_start > log_end:
        # reset_to() writes the new start first, then replaces the segments: finish it.
        _log.warning("%s: finishing an interrupted reset to offset %d", directory.name, log_start)
        for segment in list(segments):
            segments.remove(segment)
            segment.delete()
        segments.add(Segment.create(directory, log_start, config, now_ms))
        loaded.epochs.clear()
        loaded.unflushed = []
        loaded.recovery_point = log_end = log_start
    loaded.log_start_offset = log_start
    loaded.recovery_point = min(loaded.recovery_point, log_end)
    loaded.epochs.truncate_from_end(log_end)
    loaded.epochs.truncate_from_start(log_start)
    loaded.epochs.write_if_changed()
    return loaded
