"""Storage faults on a stopped broker's files, and reading a replica's log from its files.

Faults (each returns a :class:`DiskFault` saying what it did, for the report):

* :func:`cut_active_segment` -- the last ``.log`` of a partition cut at a random byte (a
  torn tail; recovery must cut back to the last whole batch);
* :func:`flip_sealed_segment` -- one bit flipped at a random byte of a sealed ``.log``
  (silent corruption; recovery does not re-scan sealed segments, the read path's check
  must refuse the batch: ``logd.storage.verify``);
* :func:`delete_index` -- a segment's ``.index`` or ``.timeindex`` removed (rebuilt from
  the ``.log`` on open).

:func:`read_replica` reads one partition's log straight from its segment files with the
records codec (CRCs checked), as each replica holds it -- the fault runs' final read of
every replica after a clean stop. Files only: the broker must not be running.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from logd.errors import LogdError
from logd.records import decode_batch, parse_header, peek_batch_size
from logd.records.header import NO_PRODUCER_ID

__all__ = [
    "DiskFault",
    "ReplicaLog",
    "batch_at",
    "cut_active_segment",
    "delete_index",
    "flip_sealed_segment",
    "partition_dir",
    "read_replica",
    "segments",
]


@dataclasses.dataclass(frozen=True)
class DiskFault:
    kind: str
    path: Path
    #: The byte cut at or flipped (-1 for a deleted file).
    position: int = -1
    #: Offsets of the batch the byte belongs to, when it is in a batch.
    batch: tuple[int, int] | None = None
    #: Where that batch starts in the file.
    batch_position: int = -1

    def __str__(self) -> str:
        where = f" at byte {self.position}" if self.position >= 0 else ""
        inside = f" (batch {self.batch[0]}..{self.batch[1]})" if self.batch else ""
        return f"{self.kind} {self.path.name}{where}{inside}"


def partition_dir(data_dir: Path, topic: str, partition: int) -> Path:
    return data_dir / f"{topic}-{partition}"


def segments(directory: Path) -> list[Path]:
    """The ``.log`` files of a partition in offset order (20-digit names sort as numbers)."""
    return sorted(directory.glob("*.log"))


def batch_at(path: Path, position: int) -> tuple[tuple[int, int], int] | None:
    """((base, last offset), start) of the batch of an intact ``path`` holding byte
    ``position``."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        size = peek_batch_size(data, pos)
        if size is None or size <= 0:
            return None
        if position < pos + size:
            header = parse_header(data, pos)
            return (header.base_offset, header.last_offset), pos
        pos += size
    return None


def _fault(kind: str, path: Path, position: int) -> DiskFault:
    found = batch_at(path, position)  # before the damage: the file is still intact
    if found is None:
        return DiskFault(kind, path, position)
    return DiskFault(kind, path, position, found[0], found[1])


def cut_active_segment(directory: Path, rng: random.Random) -> DiskFault:
    """Truncate the partition's last ``.log`` at a random byte inside it."""
    path = segments(directory)[-1]
    size = path.stat().st_size
    assert size > 1, f"{path} is empty: nothing to cut"
    position = rng.randrange(1, size)
    fault = _fault("cut", path, position)
    with path.open("r+b") as file:
        file.truncate(position)
    return fault


def flip_sealed_segment(directory: Path, rng: random.Random) -> DiskFault:
    """Flip one random bit of one random byte of a sealed ``.log`` (not the last one)."""
    sealed = segments(directory)[:-1]
    assert sealed, f"{directory} has no sealed segment"
    path = rng.choice(sealed)
    position = rng.randrange(path.stat().st_size)
    fault = _fault("flip", path, position)
    with path.open("r+b") as file:
        file.seek(position)
        byte = file.read(1)[0]
        file.seek(position)
        file.write(bytes([byte ^ (1 << rng.randrange(8))]))
    return fault


def delete_index(directory: Path, rng: random.Random, suffix: str | None = None) -> DiskFault:
    """Remove one segment's offset index or time index (only ``suffix`` files if given)."""
    indexes = sorted(directory.glob("*.index")) + sorted(directory.glob("*.timeindex"))
    indexes = [p for p in indexes if suffix in (None, p.suffix)]
    assert indexes, f"{directory} has no {suffix or 'index'} file"
    path = rng.choice(indexes)
    path.unlink()
    return DiskFault("delete", path)


@dataclasses.dataclass(frozen=True)
class ReplicaLog:
    """A partition's data records as one replica's files hold them."""

    #: (offset, value) of every data record (control batches skipped), in offset order.
    records: list[tuple[int, bytes]]
    #: The offset after the last batch (data or control); -1 for an empty log.
    end: int
    #: Why the files could not be read to the end ('' when they could).
    error: str
    #: Whether every data batch carries a producer id (an idempotent producer wrote them).
    producer_ids: bool


def read_replica(directory: Path) -> ReplicaLog:
    """Every batch of every segment, CRC-checked and decoded; stops at the first damage."""
    records: list[tuple[int, bytes]] = []
    end = -1
    producer_ids = True
    for path in segments(directory):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            size = peek_batch_size(data, pos)
            try:
                if size is None or size <= 0 or pos + size > len(data):
                    raise ValueError("a batch runs past the end of the file")
                batch = decode_batch(data[pos : pos + size])
            except (LogdError, ValueError) as exc:
                return ReplicaLog(records, end, f"{path.name} byte {pos}: {exc}", producer_ids)
            end = batch.last_offset + 1
            pos += size
            if batch.header.is_control:
                continue
            producer_ids &= batch.header.producer_id != NO_PRODUCER_ID
            records.extend((r.offset, r.value or b"") for r in batch)
    return ReplicaLog(records, end, "", producer_ids and bool(records))
