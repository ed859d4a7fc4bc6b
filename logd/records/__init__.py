"""Kafka RecordBatch v2: a sans-I/O codec (STYLE.md 3).

Build batches with :class:`BatchBuilder` (record by record) or :func:`build_value_batch` /
:func:`build_pair_batch` (a list at once); cut streams and buffers into batches with
:class:`BatchReader` / :func:`split_batches`; open one with :func:`decode_batch` and
iterate its records lazily. Control batches: :mod:`logd.records.control`. Every failure on
bad input is :class:`logd.errors.CorruptRecordError` (or
:class:`logd.errors.UnsupportedCompressionTypeError` for a codec this process cannot read).
"""

from logd.records.builder import (
    NO_PARTITION_LEADER_EPOCH,
    BatchBuilder,
    TimestampType,
    build_pair_batch,
    build_value_batch,
    build_value_buffer,
    build_value_frame,
)
from logd.records.compression import (
    DEFAULT_MAX_UNCOMPRESSED_BYTES,
    available_codecs,
    compress,
    decompress,
)
from logd.records.control import (
    ControlType,
    build_control_batch,
    control_key,
    parse_control_record,
)
from logd.records.decoder import RecordBatch, decode_batch, decode_records
from logd.records.header import (
    HEADER_SIZE,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    BatchHeader,
    Compression,
    parse_header,
    peek_batch_size,
    stamp,
    validate_batch,
)
from logd.records.reader import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BUFFER_BYTES,
    NEED_DATA,
    BatchReader,
    BatchSplit,
    NeedData,
    split_batches,
)
from logd.records.record import Header, Record

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BUFFER_BYTES",
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "HEADER_SIZE",
    "NEED_DATA",
    "NO_PARTITION_LEADER_EPOCH",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "BatchBuilder",
    "BatchHeader",
    "BatchReader",
    "BatchSplit",
    "Compression",
    "ControlType",
    "Header",
    "NeedData",
    "Record",
    "RecordBatch",
    "TimestampType",
    "available_codecs",
    "build_control_batch",
    "build_pair_batch",
    "build_value_batch",
    "build_value_buffer",
    "build_value_frame",
    "compress",
    "control_key",
    "decode_batch",
    "decode_records",
    "decompress",
    "parse_control_record",
    "parse_header",
    "peek_batch_size",
    "split_batches",
    "stamp",
    "validate_batch",
]
