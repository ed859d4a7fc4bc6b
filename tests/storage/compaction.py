"""Keyed batches and log views for the compaction tests (real record encoding: the
cleaner decodes keys, unlike the rest of storage)."""

from __future__ import annotations

from collections.abc import Sequence

from logd.records.builder import BatchBuilder
from logd.records.decoder import decode_batch
from logd.records.header import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, parse_header
from logd.records.reader import split_batches
from logd.storage import Log
from tests.storage.batches import BASE_TS

__all__ = ["SENTINEL", "keyed_batch", "last_values", "log_batches", "log_records"]

#: The key of what tests append after a roll: the cleaner never cleans the segment before
#: an empty active one (a log's last batch stays, so readers reach its end); ``log_records``
#: leaves these records out.
SENTINEL = b"~sentinel"

Pair = tuple[bytes | None, bytes | None]


def keyed_batch(
    pairs: Sequence[Pair],
    *,
    timestamp: int = BASE_TS,
    compression: int = 0,
    producer: tuple[int, int, int] = (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
) -> bytearray:
    builder = BatchBuilder(
        compression=compression,
        producer_id=producer[0],
        producer_epoch=producer[1],
        base_sequence=producer[2],
    )
    for i, (key, value) in enumerate(pairs):
        builder.append(timestamp + i, key, value)
    return bytearray(builder.build())


def log_batches(log: Log) -> list[bytes]:
    """Every stored batch from the log start to the end, as stored."""
    out: list[bytes] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20)
        if not data:
            break
        views = split_batches(data).batches
        out.extend(bytes(v) for v in views)
        offset = parse_header(views[-1]).next_offset
    return out


def log_records(log: Log) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(offset, timestamp, key, value) of every data record, in log order."""
    out = []
    for batch in log_batches(log):
        decoded = decode_batch(batch)
        if decoded.is_control:
            continue
        out.extend(
            (r.offset, r.timestamp, r.key, r.value) for r in decoded.records() if r.key != SENTINEL
        )
    return out


def last_values(history: Sequence[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, int]:
    """key -> offset of its last record (a tombstone included)."""
    last: dict[bytes, int] = {}
    for offset, key, _ in history:
        if key is not None:
            last[key] = offset
    return last
