"""Metadata records in the controller's log: one ``logd.v1.MetadataRecord`` protobuf per
record value, one record batch per write (applied atomically), as KRaft stores its
records in ``__cluster_metadata``. Pure functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.cluster.controller.security_records import SECURITY_KINDS, validate_security_record
from logd.errors import CorruptRecordError, InvalidRequestError, InvalidTopicError
from logd.metadata.store import METADATA_TOPIC
from logd.records.builder import build_value_batch
from logd.records.decoder import decode_batch
from logd.storage import validate_topic_name
from logd.v1 import cluster_pb2

__all__ = ["decode_records", "encode_batch", "validate_write"]

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


def validate_write(request: cluster_pb2.ControllerWriteRequest) -> None:
    """The internal service trusts any broker of the cluster (see the proto): a forwarded
    write is checked for the shape our own writes have before it reaches every image."""
    if request.allocate_producer_ids and not 1 <= request.producer_id_count <= 1 << 20:
        raise InvalidRequestError(f"cannot allocate {request.producer_id_count} producer ids")
    if len(request.records) > 1_000_000:
        raise InvalidRequestError("too many metadata records in one write")
    for record in request.records:
        kind = record.WhichOneof("record")
        if kind is None:
            raise InvalidRequestError("an empty metadata record")
        if kind == "topic":
            validate_topic_name(record.topic.name)
            if record.topic.name.startswith(METADATA_TOPIC) or not record.topic.topic_id:
                raise InvalidTopicError(f"topic name {record.topic.name!r} is reserved")
        elif kind == "partition":
            p = record.partition
            if p.partition < 0 or not p.replicas or min(p.replicas) < 0:
                raise InvalidRequestError(f"bad partition record {p.partition}")
            if len(set(p.replicas)) != len(p.replicas):
                raise InvalidRequestError("a partition lists a broker twice")
        elif kind == "broker" and not (
            record.broker.node_id >= 0 and 0 < record.broker.port < 65536
        ):
            raise InvalidRequestError(f"bad broker record {record.broker.node_id}")
        elif (
            kind == "config"
            and not record.config.topic_id
            and not (0 < len(record.config.key) <= 255 and len(record.config.value) <= 4096)
        ):
            raise InvalidRequestError("a cluster config needs a name (<= 255) and a short value")
        elif kind == "drain" and record.drain.node_id < 0:
            raise InvalidRequestError(f"bad drain record {record.drain.node_id}")
        elif kind == "unregister" and record.unregister.node_id < 0:
            raise InvalidRequestError(f"bad unregister record {record.unregister.node_id}")
        elif kind == "controller_voters" and (
            not record.controller_voters.voters or min(record.controller_voters.voters) < 0
        ):
            raise InvalidRequestError("a controller quorum needs voters (broker ids >= 0)")
        elif kind in SECURITY_KINDS:
            validate_security_record(kind, record)
        elif kind == "producer_ids":
            raise InvalidRequestError("producer ids are allocated by the controller itself")
