"""Decode one RecordBatch v2: header, CRC, decompression with a bound, lazy records.

:func:`decode_batch` does everything that is per batch at once — length, magic, CRC-32C,
codec, bounded decompression, the record count against the bytes it has — and hands back
a :class:`RecordBatch` whose records are decoded lazily as it is iterated
(:func:`logd.records.record.iter_records`). A consumer that only wants the records from
some offset on, or stops early, pays only for what it reads; one that iterates twice
decodes twice.

Everything malformed raises :class:`CorruptRecordError`; a codec this process cannot read
raises :class:`UnsupportedCompressionTypeError`. Nothing else escapes for any input bytes
(tests/records/test_fuzz.py holds us to it).

Thread-safety: a :class:`RecordBatch` is immutable (it owns a private ``bytes`` copy of
its records), so it may be iterated from any thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypeVar

from logd.errors import CorruptRecordError
from logd.records import accel
from logd.records.compression import DEFAULT_MAX_UNCOMPRESSED_BYTES, check_codec, decompress
from logd.records.header import (
    CODEC_MASK,
    HEADER_SIZE,
    BatchHeader,
    Compression,
    batch_crc,
    parse_header,
)
from logd.records.reader import split_batches
from logd.records.record import MIN_RECORD_SIZE, NO_MIN_OFFSET, Record, iter_records

__all__ = ["RecordBatch", "decode_batch", "decode_records"]

_NONE: Final = Compression.NONE
_T = TypeVar("_T", bound=tuple[Any, ...])


class RecordBatch:
    """A checked batch: its header and (lazily) its records. Immutable; thread-safe."""

    __slots__ = ("_data", "header")

    def __init__(self, header: BatchHeader, data: bytes) -> None:
        # ``data``: the batch's uncompressed records region, exactly; checked by decode_batch.
        self.header = header
        self._data = data

    def __repr__(self) -> str:
        h = self.header
        return (
            f"RecordBatch(base_offset={h.base_offset}, records={h.record_count}, "
            f"attributes={h.attributes:#x}, size={h.size})"
        )

    def __len__(self) -> int:
        return self.header.record_count

    def __iter__(self) -> Iterator[Record]:
        h = self.header
        return iter_records(
            self._data,
            h.record_count,
            h.base_offset,
            h.base_timestamp,
            h.max_timestamp if h.log_append_time else None,
        )

    @property
    def base_offset(self) -> int:
        return self.header.base_offset

    @property
    def last_offset(self) -> int:
        return self.header.last_offset

    @property
    def next_offset(self) -> int:
        return self.header.next_offset

    @property
    def is_control(self) -> bool:
        return self.header.is_control

    @property
    def is_transactional(self) -> bool:
        return self.header.is_transactional

    @property
    def records_region(self) -> bytes:
        """The uncompressed records region, for a decoder of its own (the consumer's
        filtering path, :mod:`logd.records.filtered`)."""
        return self._data

    @property
    def uncompressed_size(self) -> int:
        """Bytes of the records region after decompression."""
        return len(self._data)

    def records(self) -> list[Record]:
        """Every record, decoded now (by the C accelerator when it is built)."""
        return self.records_as(Record, (), NO_MIN_OFFSET)

    def records_as(
        self, cls: type[_T], tail: tuple[Any, ...], min_offset: int = NO_MIN_OFFSET
    ) -> list[_T]:
        """The records at or above ``min_offset``, decoded now, each built as
        ``cls((offset, timestamp, key, value, headers) + tail)``: ``cls`` is a tuple
        subclass without slots of its own (the consumer's ``ConsumerRecord``, so it builds one
        object per record). A malformed record raises CorruptRecordError before any is
        returned."""
        h = self.header
        return accel.records_list(
            self._data,
            h.record_count,
            h.base_offset,
            h.base_timestamp,
            h.max_timestamp if h.log_append_time else None,
            cls,
            tail,
            min_offset,
        )


def decode_batch(
    buf: bytes | bytearray | memoryview,
    *,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> RecordBatch:
    """Check and open the single batch that fills ``buf`` exactly.

    ``max_uncompressed_bytes`` bounds what decompression may produce. Records themselves are
    decoded when the result is iterated, and a malformed record raises there.
    """
    header = parse_header(buf, 0)
    size = header.size
    if size != len(buf):
        raise CorruptRecordError(f"batch length says {size} bytes but {len(buf)} were given")
    if batch_crc(buf, 0, size) != header.crc:
        raise CorruptRecordError(f"record batch CRC-32C mismatch at offset {header.base_offset}")
    codec = check_codec(header.attributes & CODEC_MASK)
    region = memoryview(buf)[HEADER_SIZE:size]
    data = bytes(region) if codec is _NONE else decompress(codec, region, max_uncompressed_bytes)
    # Checked here as well as in iter_records, so that a lying count fails at decode time.
    if header.record_count * MIN_RECORD_SIZE > len(data):
        raise CorruptRecordError(
            f"record count {header.record_count} cannot fit in {len(data)} bytes of records"
        )
    return RecordBatch(header, data)


def decode_records(
    buf: bytes | bytearray | memoryview,
    *,
    start_offset: int = 0,
    include_control: bool = False,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> Iterator[Record]:
    """The records of every whole batch in ``buf`` (a fetch response, a segment slice).

    Consumers' view: control batches are skipped unless ``include_control``, records
    below ``start_offset`` are skipped (a fetch returns the whole batch holding the
    offset asked for, as Kafka's does), and a partial batch at the end is ignored.
    """
    for view in split_batches(buf).batches:
        header = parse_header(view)
        if (header.is_control and not include_control) or header.last_offset < start_offset:
            continue  # skipped unread: no CRC check or decompression for what is not wanted
        for record in decode_batch(view, max_uncompressed_bytes=max_uncompressed_bytes):
            if record.offset >= start_offset:
                yield record
