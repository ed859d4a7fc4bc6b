"""What a fetch answered for one partition, as a reader sees it: the records at or past its
position (control batches and records below the position skipped, as a Kafka consumer skips
them) and the position after them. Shared by REST consumer instances and STOMP subscriptions.

Pure.
"""

from __future__ import annotations

from logd.records import parse_header, split_batches
from logd.records.decoder import decode_batch
from logd.records.record import Record

__all__ = ["readable"]


def readable(data: bytes, position: int) -> tuple[list[Record], int]:
    """The records of ``data`` (a fetch's record batches) from ``position`` on, and the next
    position once they are all read."""
    out: list[Record] = []
    for view in split_batches(data).batches:
        header = parse_header(view)
        if header.last_offset < position:
            continue
        if not header.is_control:
            out.extend(r for r in decode_batch(view) if r.offset >= position)
        position = max(position, header.next_offset)
    return out, position
