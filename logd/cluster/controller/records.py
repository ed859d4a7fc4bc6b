"""Metadata records in the controller's log: one ``logd.v1.MetadataRecord`` protobuf per
record value, one record batch per write (applied atomically), as KRaft stores its
records in ``__cluster_metadata``. Pure functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.errors import CorruptRecordError
from logd.records.builder import build_value_batch
from logd.records.decoder import decode_batch
from logd.v1 import cluster_pb2

__all__ = ["decode_records", "encode_batch"]

_log = logging.getLogger(__name__)

MetadataRecord = cluster_pb2.MetadataRecord


def encode_batch(
    records: Sequence[cluster_pb2.MetadataRecord], *, base_offset: int, term: int, now_ms: int
) -> bytearray:
    """One stamped batch holding ``records`` (at least one)."""
    assert records, "a write holds at least one record"
    values = [r.SerializeToString() for r in records]
    return bytearray(
        build_value_batch(values, now_ms, base_offset=base_offset, partition_leader_epoch=term)
    )


def decode_records(batch: bytes | bytearray | memoryview) -> list[cluster_pb2.MetadataRecord]:
    """The records of one stored batch; an undecodable record is skipped (and logged) --
    every broker skips the same one, so the images stay equal."""
    out = []
    try:
        records = decode_batch(batch).records()
    except CorruptRecordError as exc:
        _log.error("unreadable metadata batch skipped: %s", exc)
        return []
    for record in records:
        try:
            out.append(cluster_pb2.MetadataRecord.FromString(record.value or b""))
        except DecodeError as exc:
            _log.error("unreadable metadata record at %d skipped: %s", record.offset, exc)
    return out
