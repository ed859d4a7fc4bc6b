"""Framing: cut a byte stream or a buffer into whole RecordBatch v2 batches, sans-I/O.

Two shapes, one rule for what a frame is (:func:`_frame_size`):

* :class:`BatchReader`, for a stream (h11 style, STYLE.md 3): ``feed(data)`` bytes as they
  arrive, then call ``next_batch()`` until it returns :data:`NEED_DATA`. Each batch comes
  back as a memoryview of exactly one batch. Both the batch size and the bytes buffered
  are bounded, and the bound is checked as soon as a batch's length field is visible,
  before anything waits for (or allocates) that many bytes.
* :func:`split_batches`, for a buffer that is complete as far as it goes, such as the
  records of a Kafka fetch response. A fetch may legitimately end inside a batch (the
  broker cuts at ``max_bytes``), so a short tail is reported as ``partial_tail`` bytes,
  never as corruption. A length or magic that cannot be a batch is corrupt wherever it is.

Only the 17 bytes up to ``magic`` are looked at here: CRCs and records are the decoder's
job (:mod:`logd.records.decoder`).
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

from logd.errors import CorruptRecordError, MessageTooLargeError, RecordListTooLargeError
from logd.records.header import LOG_OVERHEAD, MAGIC, peek_batch_size

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BUFFER_BYTES",
    "NEED_DATA",
    "BatchReader",
    "BatchSplit",
    "NeedData",
    "split_batches",
]

#: A batch larger than this is refused (Kafka's ``message.max.bytes`` is 1 MiB by default).
DEFAULT_MAX_BATCH_BYTES: Final = 16 << 20
#: A :class:`BatchReader` holds at most this many unconsumed bytes.
DEFAULT_MAX_BUFFER_BYTES: Final = 64 << 20

_MAGIC_POS: Final = 16
#: baseOffset, batchLength, partitionLeaderEpoch and magic: enough to frame a batch.
_FRAME_PREFIX: Final = _MAGIC_POS + 1


class NeedData(enum.Enum):
    """The type of :data:`NEED_DATA`, a sentinel as in h11."""

    NEED_DATA = "NEED_DATA"


#: ``BatchReader.next_batch()`` returns this until a whole batch is buffered.
NEED_DATA: Final = NeedData.NEED_DATA


def _frame_size(buf: bytes | bytearray | memoryview, pos: int, max_batch_bytes: int | None) -> int:
    """The size of the batch at ``pos``; at least 17 bytes must be there."""
    size = peek_batch_size(buf, pos)
    assert size is not None, "callers make sure the length field is there"
    if buf[pos + _MAGIC_POS] != MAGIC:
        raise CorruptRecordError(
            f"unsupported record batch magic {buf[pos + _MAGIC_POS]} (only {MAGIC})"
        )
    if max_batch_bytes is not None and size > max_batch_bytes:
        raise MessageTooLargeError(
            f"a batch of {size} bytes exceeds the {max_batch_bytes}-byte limit"
        )
    return size


class BatchSplit(NamedTuple):
    """Whole batches of a buffer, and how many bytes at its end are not a whole batch."""

    batches: list[memoryview]
    partial_tail: int


def split_batches(
    buf: bytes | bytearray | memoryview, *, max_batch_bytes: int | None = None
) -> BatchSplit:
    """Cut ``buf`` into memoryviews of whole batches, zero-copy; see the module docstring."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    end = len(view)
    pos = 0
    batches: list[memoryview] = []
    while end - pos >= _FRAME_PREFIX:
        size = _frame_size(view, pos, max_batch_bytes)
        if size > end - pos:
            break
        batches.append(view[pos : pos + size])
        pos += size
    if LOG_OVERHEAD <= end - pos < _FRAME_PREFIX:
        peek_batch_size(view, pos)  # a tail may be short, but its length must be possible
    return BatchSplit(batches, end - pos)


class BatchReader:
    """Reassembles whole batches from a byte stream. Not thread-safe; owned by one stream.

    Memoryviews it returns stay valid after later ``feed`` calls: the reader never writes
    into a buffer it has handed out, it only drops its own reference.
    """

    __slots__ = (
        "_buf",
        "_max_batch_bytes",
        "_max_buffer_bytes",
        "_pending",
        "_pending_size",
        "_pos",
    )

    def __init__(
        self,
        *,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> None:
        if max_batch_bytes > max_buffer_bytes:
            raise ValueError("max_batch_bytes cannot exceed max_buffer_bytes")
        self._max_batch_bytes = max_batch_bytes
        self._max_buffer_bytes = max_buffer_bytes
        # Invariant: the unconsumed bytes are _buf[_pos:] followed by every chunk of _pending.
        self._buf = b""
        self._pos = 0
        self._pending: list[bytes] = []
        self._pending_size = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes fed and not yet returned as a batch (at the end of a stream: a partial tail)."""
        return len(self._buf) - self._pos + self._pending_size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer ``data``; RecordListTooLargeError when the buffer would pass its bound."""
        if not data:
            return
        if self.buffered_bytes + len(data) > self._max_buffer_bytes:
            raise RecordListTooLargeError(
                f"more than {self._max_buffer_bytes} bytes buffered without whole batches taken out"
            )
        # Copy unless immutable: the caller may reuse a bytearray it fed us.
        self._pending.append(data if isinstance(data, bytes) else bytes(data))
        self._pending_size += len(data)

    def _gather(self) -> None:
        """Make every buffered byte contiguous in _buf.

        Called only when the next frame needs bytes that sit in _pending: once to see its
        17-byte prefix, once when the whole batch is there, so a byte is copied twice at most.
        """
        head = memoryview(self._buf)[self._pos :]
        self._buf = b"".join([head, *self._pending])
        self._pos = 0
        self._pending.clear()
        self._pending_size = 0

    def next_batch(self) -> memoryview | NeedData:
        """The next whole batch, or :data:`NEED_DATA` until one is buffered."""
        available = self.buffered_bytes
        if available < _FRAME_PREFIX:
            return NEED_DATA
        if len(self._buf) - self._pos < _FRAME_PREFIX:
            self._gather()
        size = _frame_size(self._buf, self._pos, self._max_batch_bytes)
        if available < size:
            return NEED_DATA
        if len(self._buf) - self._pos < size:
            self._gather()
        start = self._pos
        batch = memoryview(self._buf)[start : start + size]
        self._pos = start + size
        if self._pos == len(self._buf):
            self._buf = b""
            self._pos = 0
        return batch
