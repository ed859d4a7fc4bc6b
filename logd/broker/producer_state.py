"""What a partition knows of its idempotent producers (Kafka's ``ProducerStateManager``).

An idempotent producer stamps every batch with its producer id, epoch and the sequence of
the batch's first record (per partition, from 0, one per record, wrapping at 2^31). For
each producer id the partition keeps its epoch and the metadata of its last
:data:`BATCHES_TO_RETAIN` batches — first/last sequence, first/last offset, max
timestamp — which is what the leader needs to judge the next batch
(:meth:`ProducerStateManager.check`, as Kafka's ``ProducerAppendInfo``):

* a batch whose sequences equal one of the retained batches is a **duplicate** (a retry
  of a batch whose answer was lost): it is not appended again, and is answered with the
  offsets it got the first time;
* a stale epoch is **fenced** (INVALID_PRODUCER_EPOCH); a new epoch must start at
  sequence 0 (KIP-360: the producer bumped its epoch to reset its sequences);
* a gap after the last sequence is OUT_OF_ORDER_SEQUENCE_NUMBER (an earlier batch of the
  producer is missing: the producer retries it first);
* a producer the partition does not know — its state expired ``producer.id.expiration.ms``
  after its last append, or was never here — may start at sequence 0 only; anything else
  is UNKNOWN_PRODUCER_ID, never a silent duplicate.

Why 5 batches: a producer keeps at most 5 batches in flight per partition, so a retried
batch that was appended is always among the last 5 (Kafka's ``NUM_BATCHES_TO_RETAIN``).

The state is a function of the log: every batch carries its producer fields in its header,
so :meth:`ProducerStateManager.observe` of every batch's header, in log order, rebuilds it
(on recovery, on a follower, on a new leader) without decoding a record. A snapshot
(:meth:`encode_snapshot` / :meth:`load_snapshot`) saves the scan of what came before it.

Expiry uses the broker's clock: the time of the producer's last append here (or, for
batches replayed from the log, the time of the replay — a conservative choice: a rebuilt
entry lives a full expiration period more, never less).

Pure: no I/O, time passed in. Not thread-safe; owned by the partition (the event loop).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple

import crc32c

from logd.errors import (
    InvalidProducerEpochError,
    InvalidRecordError,
    KafkaStorageError,
    OutOfOrderSequenceError,
    UnknownProducerIdError,
)
from logd.records.header import ATTR_CONTROL, HEADER_SIZE, NO_PRODUCER_ID, BatchHeader

__all__ = [
    "BATCHES_TO_RETAIN",
    "DEFAULT_PRODUCER_ID_EXPIRATION_MS",
    "EXPIRATION_CHECK_INTERVAL_MS",
    "SEQUENCE_MODULUS",
    "BatchMetadata",
    "ProducerEntry",
    "ProducerFields",
    "ProducerStateManager",
    "producer_fields",
]

BATCHES_TO_RETAIN: Final = 5
#: Kafka's ``producer.id.expiration.ms`` default: one day.
DEFAULT_PRODUCER_ID_EXPIRATION_MS: Final = 86_400_000
#: Kafka's ``producer.id.expiration.check.interval.ms`` default: ten minutes.
EXPIRATION_CHECK_INTERVAL_MS: Final = 600_000
SEQUENCE_MODULUS: Final = 1 << 31

# attributes, lastOffsetDelta at 21; producerId, producerEpoch, baseSequence at 43.
_ATTRS_DELTA: Final = struct.Struct(">hi")
_PRODUCER: Final = struct.Struct(">qhi")
_ATTRS_POS: Final = 21
_PRODUCER_POS: Final = 43

# Snapshot layout (big-endian): magic, version, offset, producer count; per producer id,
# epoch, last-seen ms, batch count; per batch first/last sequence, first/last offset, max
# timestamp; then CRC-32C of everything before it.
_SNAPSHOT_MAGIC: Final = b"LDPS"
_SNAPSHOT_VERSION: Final = 1
_SNAP_HEAD: Final = struct.Struct(">4sBqi")
_SNAP_ENTRY: Final = struct.Struct(">qhqB")
_SNAP_BATCH: Final = struct.Struct(">iiqqq")
_SNAP_CRC: Final = struct.Struct(">I")


class ProducerFields(NamedTuple):
    """The producer fields of one batch header."""

    producer_id: int
    epoch: int
    first_seq: int
    last_seq: int


class BatchMetadata(NamedTuple):
    """What a partition remembers of one of a producer's recent batches."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


def _last_seq(first_seq: int, last_offset_delta: int) -> int:
    return (first_seq + last_offset_delta) % SEQUENCE_MODULUS


def producer_fields(batch: bytes | bytearray | memoryview) -> ProducerFields | None:
    """The producer fields of an idempotent batch; None for a batch without a producer id,
    a control batch, or bytes too short to be a batch (the log's checks name those)."""
    if len(batch) < HEADER_SIZE:
        return None
    producer_id, epoch, first_seq = _PRODUCER.unpack_from(batch, _PRODUCER_POS)
    if producer_id == NO_PRODUCER_ID:
        return None
    attributes, delta = _ATTRS_DELTA.unpack_from(batch, _ATTRS_POS)
    if attributes & ATTR_CONTROL:
        return None
    return ProducerFields(producer_id, epoch, first_seq, _last_seq(first_seq, max(delta, 0)))


class ProducerEntry:
    """One producer id's epoch and last batches. Owned by its manager."""

    __slots__ = ("batches", "epoch", "last_seen_ms", "producer_id")

    def __init__(self, producer_id: int, epoch: int, last_seen_ms: int) -> None:
        self.producer_id = producer_id
        self.epoch = epoch
        self.last_seen_ms = last_seen_ms
        self.batches: deque[BatchMetadata] = deque(maxlen=BATCHES_TO_RETAIN)

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    def find_duplicate(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def __repr__(self) -> str:
        return (
            f"ProducerEntry(id={self.producer_id}, epoch={self.epoch}, "
            f"last_seq={self.last_seq}, batches={len(self.batches)})"
        )


class ProducerStateManager:
    """Idempotent producers of one partition. See the module doc; loop-owned, pure."""

    def __init__(self, name: str, expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS) -> None:
        assert expiration_ms > 0, expiration_ms
        self.name = name
        self.expiration_ms = expiration_ms
        self._producers: dict[int, ProducerEntry] = {}
        self._next_sweep_ms: int | None = None

    def __len__(self) -> int:
        return len(self._producers)

    def __iter__(self) -> Iterator[ProducerEntry]:
        return iter(list(self._producers.values()))

    def get(self, producer_id: int) -> ProducerEntry | None:
        return self._producers.get(producer_id)

    def clear(self) -> None:
        self._producers.clear()

    # -- the leader's check -----------------------------------------------------------------

    def check(self, fields: ProducerFields, now_ms: int) -> BatchMetadata | None:
        """Judge a batch before the leader appends it: None to append it, the original's
        metadata for a duplicate; raises the typed error for anything else."""
        producer_id, epoch, first_seq, last_seq = fields
        if epoch < 0 or first_seq < 0:
            raise InvalidRecordError(
                f"{self.name}: a batch of producer {producer_id} has epoch {epoch} and "
                f"sequence {first_seq}; an idempotent batch needs both"
            )
        entry = self._live(producer_id, now_ms)
        if entry is None:
            if first_seq != 0:
                raise UnknownProducerIdError(
                    f"{self.name} has no state for producer {producer_id} (it expired "
                    f"{self.expiration_ms} ms after the producer's last write here "
                    f"(producer.id.expiration.ms), or the producer never wrote here), and "
                    f"its batch starts at sequence {first_seq}, not 0: the producer must "
                    "bump its epoch and start its sequences again"
                )
            return None
        if epoch < entry.epoch:
            raise InvalidProducerEpochError(
                f"{self.name}: producer {producer_id} is fenced: its epoch {epoch} is older "
                f"than the current epoch {entry.epoch}"
            )
        if epoch > entry.epoch:
            if first_seq != 0:
                raise OutOfOrderSequenceError(
                    f"{self.name}: producer {producer_id} starts its new epoch {epoch} at "
                    f"sequence {first_seq}; a new epoch starts at 0"
                )
            return None
        duplicate = entry.find_duplicate(first_seq, last_seq)
        if duplicate is not None:
            return duplicate
        expected = (entry.last_seq + 1) % SEQUENCE_MODULUS
        if first_seq != expected:
            raise OutOfOrderSequenceError(
                f"{self.name}: producer {producer_id} (epoch {epoch}) sent sequence "
                f"{first_seq}, expected {expected}"
            )
        return None

    def _live(self, producer_id: int, now_ms: int) -> ProducerEntry | None:
        entry = self._producers.get(producer_id)
        if entry is not None and now_ms - entry.last_seen_ms >= self.expiration_ms:
            del self._producers[producer_id]
            return None
        return entry

    # -- updates: the leader after an append, a follower, a rebuild -------------------------

    def record(
        self, fields: ProducerFields, first_offset: int, last_offset: int, max_timestamp: int,
        now_ms: int,
    ) -> None:  # fmt: skip
        """Remember a batch appended at ``[first_offset, last_offset]``."""
        producer_id, epoch, first_seq, last_seq = fields
        entry = self._producers.get(producer_id)
        if entry is None or entry.epoch != epoch:
            # A new producer, or a new epoch: the old epoch's batches can no longer match.
            entry = self._producers[producer_id] = ProducerEntry(producer_id, epoch, now_ms)
        entry.batches.append(
            BatchMetadata(first_seq, last_seq, first_offset, last_offset, max_timestamp)
        )
        entry.last_seen_ms = max(entry.last_seen_ms, now_ms)
        self.maybe_expire(now_ms)

    def observe(self, header: BatchHeader, base_offset: int, now_ms: int) -> None:
        """A batch now in the log at ``base_offset``, whoever appended it (the seam the
        replication driver calls for every batch a follower appends; the rebuild calls it
        for every batch it scans). Batches without a producer id and control batches are
        ignored."""
        if header.producer_id == NO_PRODUCER_ID or header.is_control:
            return
        first_seq = header.base_sequence
        fields = ProducerFields(
            header.producer_id,
            header.producer_epoch,
            first_seq,
            _last_seq(first_seq, header.last_offset_delta),
        )
        last_offset = base_offset + header.last_offset_delta
        self.record(fields, base_offset, last_offset, header.max_timestamp, now_ms)

    def observe_fields(self, fields: tuple[int, ...], now_ms: int) -> None:
        """:meth:`observe` of a header unpacked as ``Log.scan_headers`` gives it."""
        base, _, _, _, _, attributes, delta, _, max_ts, producer_id, epoch, first_seq, _ = fields
        if producer_id == NO_PRODUCER_ID or attributes & ATTR_CONTROL:
            return
        self.record(
            ProducerFields(producer_id, epoch, first_seq, _last_seq(first_seq, delta)),
            base,
            base + delta,
            max_ts,
            now_ms,
        )

    # -- expiry ---------------------------------------------------------------------------

    def maybe_expire(self, now_ms: int) -> int:
        """Drop expired producers, at most once per check interval (Kafka's
        ``producer.id.expiration.check.interval.ms``, shorter when the expiration is)."""
        if self._next_sweep_ms is None:
            self._next_sweep_ms = now_ms + self._sweep_interval()
            return 0
        if now_ms < self._next_sweep_ms:
            return 0
        self._next_sweep_ms = now_ms + self._sweep_interval()
        return self.expire(now_ms)

    def _sweep_interval(self) -> int:
        return min(EXPIRATION_CHECK_INTERVAL_MS, self.expiration_ms)

    def expire(self, now_ms: int) -> int:
        """Drop every producer whose last write is ``producer.id.expiration.ms`` old."""
        doomed = [
            pid
            for pid, entry in self._producers.items()
            if now_ms - entry.last_seen_ms >= self.expiration_ms
        ]
        for pid in doomed:
            del self._producers[pid]
        return len(doomed)

    # -- snapshots ------------------------------------------------------------------------

    def encode_snapshot(self, offset: int) -> bytes:
        """The state as of ``offset`` (every batch below it observed), CRC-protected."""
        parts = [_SNAP_HEAD.pack(_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, offset, len(self))]
        for entry in self._producers.values():
            parts.append(
                _SNAP_ENTRY.pack(entry.producer_id, entry.epoch, entry.last_seen_ms,
                                 len(entry.batches))
            )  # fmt: skip
            parts.extend(_SNAP_BATCH.pack(*batch) for batch in entry.batches)
        body = b"".join(parts)
        return body + _SNAP_CRC.pack(crc32c.crc32c(body))

    def load_snapshot(self, data: bytes) -> int:
        """Replace the state by a snapshot's; returns its offset. KafkaStorageError (and no
        change) for bytes that are not a whole, intact snapshot."""
        offset, entries = decode_snapshot(data, self.name)
        self._producers = {entry.producer_id: entry for entry in entries}
        return offset


def decode_snapshot(data: bytes, name: str = "snapshot") -> tuple[int, list[ProducerEntry]]:
    """(offset, entries) of a snapshot; every length is checked before it is used."""
    view = memoryview(data)
    if len(view) < _SNAP_HEAD.size + _SNAP_CRC.size:
        raise KafkaStorageError(f"{name}: producer snapshot of {len(view)} bytes is truncated")
    body = view[: -_SNAP_CRC.size]
    (crc,) = _SNAP_CRC.unpack_from(view, len(body))
    if crc32c.crc32c(body) != crc:
        raise KafkaStorageError(f"{name}: producer snapshot CRC-32C mismatch")
    magic, version, offset, count = _SNAP_HEAD.unpack_from(body, 0)
    if magic != _SNAPSHOT_MAGIC or version != _SNAPSHOT_VERSION or offset < 0 or count < 0:
        raise KafkaStorageError(f"{name}: not a version {_SNAPSHOT_VERSION} producer snapshot")
    pos = _SNAP_HEAD.size
    entries: list[ProducerEntry] = []
    for _ in range(count):
        if len(body) - pos < _SNAP_ENTRY.size:
            raise KafkaStorageError(f"{name}: producer snapshot ends inside an entry")
        producer_id, epoch, last_seen, nbatches = _SNAP_ENTRY.unpack_from(body, pos)
        pos += _SNAP_ENTRY.size
        if nbatches > BATCHES_TO_RETAIN or len(body) - pos < nbatches * _SNAP_BATCH.size:
            raise KafkaStorageError(f"{name}: producer snapshot entry has bad batches")
        entry = ProducerEntry(producer_id, epoch, last_seen)
        entry.batches.extend(_batches(body, pos, nbatches))
        pos += nbatches * _SNAP_BATCH.size
        entries.append(entry)
    if pos != len(body):
        raise KafkaStorageError(f"{name}: producer snapshot has {len(body) - pos} extra bytes")
    return offset, entries


def _batches(body: memoryview, pos: int, count: int) -> Iterable[BatchMetadata]:
    for i in range(count):
        yield BatchMetadata(*_SNAP_BATCH.unpack_from(body, pos + i * _SNAP_BATCH.size))
