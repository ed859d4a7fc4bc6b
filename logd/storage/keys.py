"""Kafka's rule for compacted topics: every record needs a key (``LogValidator``'s
``validateKey``: INVALID_RECORD, "Compacted topic cannot accept message without key").

The one place the produce path decodes records (DESIGN.md principle 1's exception, as in
Kafka): only for topics whose ``cleanup.policy`` includes ``compact``, where a keyless
record could never be cleaned.  The broker core calls it, so every front end refuses the
same batches.

Pure: thread-safe.
"""

from __future__ import annotations

from logd.errors import InvalidRecordError
from logd.records.decoder import decode_batch

__all__ = ["require_keys"]


def require_keys(batch: bytes | bytearray | memoryview, topic: str) -> None:
    """Raise InvalidRecordError if a record of ``batch`` has no key (CorruptRecordError
    for a batch that does not decode).  Control batches hold no user records."""
    decoded = decode_batch(batch)
    if decoded.is_control:
        return
    for index, record in enumerate(decoded.records()):
        if record.key is None:
            raise InvalidRecordError(
                f"compacted topic {topic} cannot accept a record without a key "
                f"(record {index} of the batch)"
            )
