"""A producer batch: the records bound for one partition, from first append to delivery.

Records are kept as the caller passed them -- parallel lists of values and, only once some
record has one, keys, timestamps and headers -- and encoded once, when the batch is sent,
by the codec's fast paths (``build_value_batch`` for values only, ``build_pair_batch`` for
keys and values, the ``BatchBuilder`` only when timestamps or headers were given). So a
record costs a list append on the caller's side and one pass of the encoder; nothing is
built per record (issue 8).

A record without an explicit timestamp takes the batch's ``base_timestamp``: the producer's
clock when the batch was opened, at most ``linger.ms`` (plus the sender's wake-up latency)
before the record's ``produce()`` call. One clock read per batch instead of per record.

Delivery: one result per batch (``base_offset`` and ``log_append_time`` or ``error``);
record ``i`` has offset ``base_offset + i``. Per-record work at delivery happens only for
the records that registered a callback or future (``callbacks``, as runs of
``(first index, count, target)``).

Ownership: between creation and :meth:`close` a batch is mutated only under the
accumulator's lock (by producer threads or the loop); after that only by the sender on the
event loop. Not thread-safe on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from logd.client.types import Header
from logd.errors import LogdError
from logd.records.builder import (
    BatchBuilder,
    build_pair_batch,
    build_value_buffer,
    build_value_frame,
)
from logd.records.header import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Compression

__all__ = ["RECORD_OVERHEAD", "ProducerBatch"]

#: Upper estimate of a record's framing beyond key, value and headers: length (<= 3 bytes
#: for records under 2 MiB), attributes, timestampDelta (1 unless explicit), offsetDelta
#: (<= 3), key and value lengths (<= 3 each), header count. Used to fill a batch to
#: ``batch.size`` without encoding it.
RECORD_OVERHEAD: Final = 16


class ProducerBatch:
    """Records for one partition. See the module docstring for ownership."""

    __slots__ = (
        "attempts",
        "base_offset",
        "base_sequence",
        "base_timestamp",
        "callbacks",
        "closed",
        "created",
        "deadline",
        "encoded",
        "error",
        "headers",
        "keys",
        "last_error",
        "log_append_time",
        "partition",
        "plain",
        "producer_epoch",
        "producer_id",
        "retry_at",
        "seq",
        "size",
        "timestamps",
        "topic",
        "values",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        seq: int,
        base_timestamp: int,
        created: float,
        deadline: float,
    ) -> None:
        self.topic = topic
        self.partition = partition
        #: Order of creation within the partition: retries go back in this order.
        self.seq = seq
        self.base_timestamp = base_timestamp
        self.created = created
        self.deadline = deadline
        self.values: list[bytes | None] = []
        self.keys: list[bytes | None] | None = None
        self.timestamps: list[int] | None = None
        self.headers: list[Sequence[Header]] | None = None
        self.callbacks: list[tuple[int, int, object]] | None = None
        #: No record has a key, timestamp or headers (the accumulator's fast path).
        self.plain = True
        self.size = 0
        self.closed = False
        #: A bytearray for an uncompressed value batch (joined once, issue 22), or a view of
        #: the request it was built into (:meth:`frame`); never mutated once built
        #: (idempotence's restamp replaces it).
        self.encoded: bytes | bytearray | memoryview | None = None
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error: LogdError | None = None
        # Idempotence (issue 7) fills these at the first send and keeps them for retries.
        self.producer_id = NO_PRODUCER_ID
        self.producer_epoch = NO_PRODUCER_EPOCH
        self.base_sequence = NO_SEQUENCE
        # The outcome.
        self.base_offset = -1
        self.log_append_time = -1
        self.error: LogdError | None = None

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return (
            f"ProducerBatch({self.topic}-{self.partition} #{self.seq}, "
            f"{len(self.values)} records, {self.size} bytes)"
        )

    # -- the slow paths of append (the fast path is inlined in the accumulator) -----------

    def add_record(
        self,
        value: bytes | None,
        key: bytes | None,
        timestamp: int | None,
        headers: Sequence[Header] | None,
        callback: object,
    ) -> None:
        """Append a record that has a key, timestamp or headers (or joins a batch that has)."""
        self.plain = False
        # The optional fields first: they backfill up to len(self.values).
        if key is not None or self.keys is not None:
            self.add_key(key)
        if timestamp is not None or self.timestamps is not None:
            self.add_timestamp(timestamp)
        if headers is not None or self.headers is not None:
            self.add_headers(headers)
        if callback is not None:
            self.add_callback(len(self.values), 1, callback)
        self.values.append(value)

    def add_key(self, key: bytes | None) -> None:
        """Record the key of the record about to be appended (backfills None before it)."""
        if self.keys is None:
            self.keys = [None] * len(self.values)
        self.keys.append(key)

    def add_timestamp(self, timestamp: int | None) -> None:
        if self.timestamps is None:
            self.timestamps = [self.base_timestamp] * len(self.values)
        self.timestamps.append(self.base_timestamp if timestamp is None else timestamp)

    def add_headers(self, headers: Sequence[Header] | None) -> None:
        if self.headers is None:
            self.headers = [()] * len(self.values)
        self.headers.append(headers or ())

    def add_callback(self, first: int, count: int, target: object) -> None:
        if self.callbacks is None:
            self.callbacks = []
        self.callbacks.append((first, count, target))

    # -- sending ----------------------------------------------------------------------------

    def sendable(self, compression: int) -> bytes | bytearray | memoryview | ProducerBatch:
        """What the produce stream sends: the batch itself when it can write itself into
        its request (:meth:`frame`: values only, uncompressed, not yet encoded), else its
        bytes (:meth:`encode`, whose errors -- a codec refusing a record -- raise here)."""
        if (
            self.encoded is None
            and compression == Compression.NONE
            and self.keys is None
            and self.timestamps is None
            and self.headers is None
            and self.values
        ):
            return self
        return self.encode(compression)

    def frame(self, prefix_for: Callable[[int], bytes]) -> bytes:
        """``prefix_for(size)`` and this batch's ``size`` bytes as one object, the values
        copied once (``build_value_frame``, issue 22); only when :meth:`sendable` returned
        the batch. Keeps a view of its batch as :attr:`encoded`, for retries."""
        assert self.encoded is None and self.keys is None and self.timestamps is None
        frame, at = build_value_frame(
            prefix_for,
            self.values,
            self.base_timestamp,
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch,
            base_sequence=self.base_sequence,
        )
        self.encoded = memoryview(frame)[at:]
        return frame

    def encode(self, compression: int) -> bytes | bytearray | memoryview:
        """The batch's bytes (encoded on the first call, the same bytes for every retry)."""
        encoded: bytes | bytearray | memoryview | None = self.encoded
        if encoded is not None:
            return encoded
        pid, epoch, seq = self.producer_id, self.producer_epoch, self.base_sequence
        values = self.values
        if self.timestamps is None and self.headers is None:
            if self.keys is None:
                encoded = build_value_buffer(
                    values,
                    self.base_timestamp,
                    compression=compression,
                    producer_id=pid,
                    producer_epoch=epoch,
                    base_sequence=seq,
                )
            else:
                encoded = build_pair_batch(
                    list(zip(self.keys, values, strict=True)),
                    self.base_timestamp,
                    compression=compression,
                    producer_id=pid,
                    producer_epoch=epoch,
                    base_sequence=seq,
                )
        else:
            encoded = self._encode_general(compression)
        self.encoded = encoded
        return encoded

    def _encode_general(self, compression: int) -> bytes:
        builder = BatchBuilder(
            compression=compression,
            producer_id=self.producer_id,
            producer_epoch=self.producer_epoch,
            base_sequence=self.base_sequence,
        )
        n = len(self.values)
        keys = self.keys or [None] * n
        timestamps = self.timestamps or [self.base_timestamp] * n
        headers: Sequence[Sequence[Header]] = self.headers or [()] * n
        append = builder.append
        for ts, key, value, hdrs in zip(timestamps, keys, self.values, headers, strict=True):
            append(ts, key, value, hdrs)
        return builder.build()

    def split(self, first_seq: int, second_seq: int) -> tuple[ProducerBatch, ProducerBatch]:
        """Two batches holding this one's records, first half and second half (MESSAGE_TOO_LARGE).

        Both keep the creation time, deadline and attempts; callbacks follow their records.
        """
        n = len(self.values)
        assert n > 1, "a batch of one record cannot be split"
        half = n // 2
        halves = []
        for seq, start, end in ((first_seq, 0, half), (second_seq, half, n)):
            b = ProducerBatch(self.topic, self.partition, seq, self.base_timestamp,
                              self.created, self.deadline)  # fmt: skip
            b.values = self.values[start:end]
            b.plain = self.plain
            if self.keys is not None:
                b.keys = self.keys[start:end]
            if self.timestamps is not None:
                b.timestamps = self.timestamps[start:end]
            if self.headers is not None:
                b.headers = self.headers[start:end]
            b.size = self.size * (end - start) // n
            b.attempts = self.attempts
            b.closed = True
            b.last_error = self.last_error
            for first, count, target in self.callbacks or ():
                lo, hi = max(first, start), min(first + count, end)
                if lo < hi:
                    b.add_callback(lo - start, hi - lo, _shifted(target, lo - first))
            halves.append(b)
        halves[1].size = self.size - halves[0].size
        return halves[0], halves[1]

    def timestamp_of(self, index: int) -> int:
        """The timestamp a delivery report gives record ``index``."""
        if self.log_append_time != -1:
            return self.log_append_time
        if self.timestamps is not None:
            return self.timestamps[index]
        return self.base_timestamp

    def release(self) -> None:
        """Drop the record data once delivered (callbacks may still need the timestamps)."""
        self.values = []
        self.keys = None
        self.headers = None
        self.encoded = None


def _shifted(target: object, skip: int) -> object:
    """A callback target for a run that starts ``skip`` records into the original run."""
    if skip and type(target) is tuple:  # a send_batch run: (results, input_start)
        collector, input_start = target
        return (collector, input_start + skip)
    return target
