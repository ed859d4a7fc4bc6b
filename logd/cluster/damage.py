"""Finding the first damaged batch of a partition's log: the scan a replica runs (in a
worker thread) before it repairs itself by cutting there and fetching the rest from its
leader (``replicated.py``). Its own module because it is a pure read of a ``Log``, with no
Raft state: the replica only decides what to do with the answer."""

from __future__ import annotations

from logd.errors import KafkaStorageError
from logd.records.header import parse_header, peek_batch_size
from logd.storage import Log

__all__ = ["find_damage"]


def find_damage(log: Log) -> int | None:
    """The base offset of the first batch of ``log`` that fails its check, None if every
    batch is whole. Runs in a worker thread (the Log is thread-safe): 1 MiB at a time, then
    batch by batch inside a chunk that failed."""
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        try:
            data = log.read(offset, 1 << 20)
        except KafkaStorageError:
            return _damaged_batch(log, offset)
        if not data:
            return None
        offset = _next_offset(data, offset)
    return None


def _damaged_batch(log: Log, offset: int) -> int | None:
    while offset < log.log_end_offset:
        try:
            data = log.read(offset, 1)
        except KafkaStorageError:
            return offset
        if not data:
            return None
        offset = _next_offset(data, offset)
    return None


def _next_offset(data: bytes, offset: int) -> int:
    """The offset after the last whole batch of ``data`` (a read's whole batches)."""
    view = memoryview(data)
    pos = 0
    last = offset - 1
    while pos < len(view):
        size = peek_batch_size(view, pos)
        if size is None or size > len(view) - pos:
            break
        last = parse_header(view, pos).last_offset
        pos += size
    return max(last + 1, offset + 1)
