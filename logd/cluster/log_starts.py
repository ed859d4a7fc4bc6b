"""A replicated partition's log start (Kafka's DeleteRecords under Raft): the LOG_START
control records this replica has written but not yet applied.

The leader proposes a LOG_START record (``Partition.propose_log_start``) holding the new log
start, never beyond the high watermark of its proposal. Every replica writes it as any
entry; once the commit point passes the record, each one moves its own log start there
(``PartitionReplica.on_commit``: ``Log.delete_records_before`` fsyncs the log-start
checkpoint, then the Raft snapshot point follows, as after retention). A record cut by a
truncation before it was committed is forgotten with it (:meth:`PendingLogStarts.keep`).

Why a side file (``log-start-pending``): a replica may write the record, see it committed
and die before it moved its start. After its restart it must still move it, without
scanning its log for LOG_START records. So each written record is noted here, fsynced,
when it is written -- before the driver's fsync of the log lets it count toward the
commit -- and the file is rewritten when records are applied or cut. The file is tiny
(one line per DeleteRecords in flight) and written only on those rare calls.

Ownership: the partition's ``PartitionReplica``, on the broker's event loop.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from logd.storage import checkpoint
from logd.storage.files import write_atomic

__all__ = ["PENDING_FILE", "PendingLogStarts"]

_log = logging.getLogger(__name__)

PENDING_FILE: Final = "log-start-pending"


class PendingLogStarts:
    """``(record offset, new log start)`` of the LOG_START records written, not applied."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / PENDING_FILE
        self._pending: list[tuple[int, int]] = _load(self._path)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def note(self, offset: int, start: int) -> None:
        """The LOG_START record at ``offset`` (moving the start to ``start``) was written."""
        self._pending = sorted({*self._pending, (offset, start)})
        self._save()

    def due(self, commit: int) -> int | None:
        """The log start the records committed by ``commit`` (an offset) ask for."""
        starts = [start for offset, start in self._pending if offset <= commit]
        return max(starts) if starts else None

    def applied(self, commit: int) -> None:
        """The records committed by ``commit`` were applied: forget them."""
        self._pending = [(o, s) for o, s in self._pending if o > commit]
        self._save()

    def keep(self, log_start: int, log_end: int) -> None:
        """The log now holds ``[log_start, log_end)``: forget the records it lost (cut by a
        truncation, or below a snapshot the leader sent -- whose start is past them)."""
        kept = [(o, s) for o, s in self._pending if log_start <= o < log_end]
        if kept != self._pending:
            self._pending = kept
            self._save()

    def _save(self) -> None:
        try:
            if self._pending:
                write_atomic(self._path, checkpoint.encode(self._pending), fsync=os.fsync)
            else:
                self._path.unlink(missing_ok=True)
        except OSError as exc:
            # Still applied while this process runs; only a crash before then would forget
            # it (the leader's own start has moved: a later DeleteRecords repeats it).
            _log.error("%s: cannot write %s: %s", self._path.parent.name, PENDING_FILE, exc)


def _load(path: Path) -> list[tuple[int, int]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        _log.error("%s: cannot read %s: %s", path.parent.name, PENDING_FILE, exc)
        return []
    entries = checkpoint.decode(data, 2)
    if entries is None:
        _log.error("%s: %s is damaged; ignored", path.parent.name, PENDING_FILE)
        return []
    return sorted((int(o), int(s)) for o, s in entries)
