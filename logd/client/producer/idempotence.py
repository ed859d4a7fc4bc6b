"""The idempotent producer's bookkeeping: producer id, epoch, and per-partition sequences.

What Kafka's ``TransactionManager`` does for a producer without transactions (Kafka ≥ 3:
``enable.idempotence`` is on by default). The broker judges every batch by its producer id,
epoch and base sequence (``logd.broker.producer_state``); this side makes those right:

* **Sequences.** A batch gets the next sequence of its partition at its first send and
  keeps it, with the same bytes, for every retry — so a retry of a batch whose answer was
  lost is recognised by the leader and answered with the original offsets. Sequences count
  records, from 0 per partition and epoch, wrapping at 2^31.
* **The window.** The leader remembers a producer's last 5 batches, so a partition never
  has a fresh batch sent while 5 batches from its oldest unacknowledged one on are
  outstanding: a retried batch that was appended is then always among the 5.
* **Order.** The sender sends a partition's queue head first; retries go back to the queue
  in sequence order. With sequences, the broker refuses a gap (OUT_OF_ORDER_SEQUENCE_NUMBER),
  so batches may be pipelined during retries: a batch refused behind a pending one is
  retried after it.
* **Resets (KIP-360).** Some answers prove that a batch and every later one of its
  partition were *not* appended: UNKNOWN_PRODUCER_ID (the leader's state for us expired),
  and OUT_OF_ORDER_SEQUENCE_NUMBER when no earlier batch is pending (the batch before it
  failed or expired unappended, or the leader lost our state). Then, once the partition has
  nothing in flight, the producer bumps its epoch (locally, as Kafka's idempotent producer
  does; a new producer id from ``InitProducerId`` after epoch 32767) and the partition's
  unacknowledged batches are re-sequenced from 0 in the new epoch — their bytes patched in
  place (producer fields and CRC; records are not re-encoded). A batch that is pending
  before an acknowledged one is proven appended and keeps its old identity.
* **Failures.** A batch that fails for good (delivery.timeout.ms, a non-retriable error)
  leaves a hole its successors will be refused at, which then triggers a reset; a batch
  refused definitively that was the partition's last just gives its sequences back.
* **Split batches** (MESSAGE_TOO_LARGE) keep the original's identity: the first half takes
  its first sequences, the second the rest, so no sequence is skipped or reused.
* **Fencing.** INVALID_PRODUCER_EPOCH / PRODUCER_FENCED mean another producer has our id at
  a newer epoch: fatal, every later batch fails with it (as Kafka's fatal error state).

Pure: no I/O except the ``fetch_id`` coroutine it is given. Owned by the client's event
loop (the sender); not thread-safe.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from logd.client.producer.batch import ProducerBatch
from logd.errors import (
    InvalidProducerEpochError,
    LogdError,
    OutOfOrderSequenceError,
    ProducerFencedError,
    UnknownProducerIdError,
)
from logd.records.header import NO_PRODUCER_ID, rewrite_crc

__all__ = [
    "MAX_EPOCH",
    "SEQUENCE_MODULUS",
    "WINDOW_BATCHES",
    "Idempotence",
    "PartitionSequences",
    "is_fencing",
    "is_sequence_error",
    "restamp",
]

_log = logging.getLogger(__name__)

MAX_EPOCH: Final = 32767
SEQUENCE_MODULUS: Final = 1 << 31
#: The batches the leader remembers per producer (the broker's ``BATCHES_TO_RETAIN``).
WINDOW_BATCHES: Final = 5

_PRODUCER: Final = struct.Struct(">qhi")
_PRODUCER_POS: Final = 43


def is_sequence_error(error: LogdError) -> bool:
    """An answer the idempotence bookkeeping decides on (retry, maybe after a reset)."""
    return isinstance(error, OutOfOrderSequenceError | UnknownProducerIdError)


def is_fencing(error: LogdError) -> bool:
    return isinstance(error, InvalidProducerEpochError | ProducerFencedError)


class _State(enum.Enum):
    PENDING = "pending"  # sequenced; not acknowledged, not failed
    ACKED = "acked"
    FAILED = "failed"


class _Entry:
    __slots__ = ("batch", "state")

    def __init__(self, batch: ProducerBatch) -> None:
        self.batch = batch
        self.state = _State.PENDING


class _Queue(Protocol):
    """What the sender's partition queue offers here."""

    topic: str
    partition: int
    in_flight: int


class PartitionSequences:
    """One partition's identity in use, next sequence and window. Owned by Idempotence."""

    __slots__ = ("entries", "epoch", "next_seq", "producer_id", "reset_wanted", "window")

    def __init__(self, producer_id: int, epoch: int) -> None:
        self.producer_id = producer_id
        self.epoch = epoch
        self.next_seq = 0
        #: Sequenced batches from the oldest not yet acknowledged or failed on, in order.
        self.window: deque[_Entry] = deque()
        self.entries: dict[ProducerBatch, _Entry] = {}
        #: Re-sequence in a new epoch once nothing is in flight (see the module doc).
        self.reset_wanted = False

    def prune(self) -> None:
        window = self.window
        while window and window[0].state is not _State.PENDING:
            self.entries.pop(window.popleft().batch, None)

    def predecessor(self, entry: _Entry) -> _Entry | None:
        previous = None
        for candidate in self.window:
            if candidate is entry:
                return previous
            previous = candidate
        return None


class Idempotence:
    """Producer id, epoch and sequences of one producer. See the module doc; loop-owned."""

    def __init__(self, fetch_id: Callable[[], Awaitable[tuple[int, int]]] | None = None) -> None:
        self._fetch_id = fetch_id
        self.producer_id = NO_PRODUCER_ID
        self.epoch = -1
        self._partitions: dict[tuple[str, int], PartitionSequences] = {}
        self._fetching: asyncio.Task[None] | None = None
        #: Set when the producer is fenced: every later batch fails with it.
        self.fatal: LogdError | None = None
        #: Counters for logs and tests.
        self.epoch_bumps = 0
        self.resets = 0

    # -- the producer id -------------------------------------------------------------------

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id != NO_PRODUCER_ID

    def adopt(self, producer_id: int, epoch: int) -> None:
        """Use a producer id and epoch that ``InitProducerId`` answered."""
        assert producer_id >= 0 and 0 <= epoch <= MAX_EPOCH, (producer_id, epoch)
        self.producer_id, self.epoch = producer_id, epoch

    async def obtain(self) -> None:
        """Fetch a producer id (one call however many ask); raises its LogdError."""
        if self._fetching is None:
            assert self._fetch_id is not None, "no InitProducerId call was given"
            self._fetching = asyncio.ensure_future(self._fetch())
        fetching = self._fetching
        try:
            await asyncio.shield(fetching)
        finally:
            if fetching.done() and self._fetching is fetching:
                self._fetching = None

    async def _fetch(self) -> None:
        assert self._fetch_id is not None
        producer_id, epoch = await self._fetch_id()
        self.adopt(producer_id, epoch)
        _log.debug("producer id %d, epoch %d", producer_id, epoch)

    # -- before a send ---------------------------------------------------------------------

    def may_send(self, pq: _Queue, head: ProducerBatch) -> bool:
        """May the sender send ``head``, the first batch of ``pq``'s queue, now? Performs a
        wanted reset once the partition has nothing in flight."""
        if self.fatal is not None:
            return True  # the sender fails it at once
        if not self.has_producer_id:
            return False
        ps = self._partitions.get((pq.topic, pq.partition))
        if ps is None:
            return True
        if ps.reset_wanted and (pq.in_flight or not self._reset(ps)):
            return False
        return head.producer_id != NO_PRODUCER_ID or len(ps.window) < WINDOW_BATCHES

    def assign(self, batch: ProducerBatch) -> None:
        """Give a fresh batch its producer id, epoch and sequences (before its first send)."""
        assert self.has_producer_id and batch.producer_id == NO_PRODUCER_ID
        key = (batch.topic, batch.partition)
        ps = self._partitions.get(key)
        if ps is None:
            ps = self._partitions[key] = PartitionSequences(self.producer_id, self.epoch)
        elif not ps.window and (ps.producer_id, ps.epoch) != (self.producer_id, self.epoch):
            # Nothing outstanding: move on to the producer's current epoch (from 0).
            ps.producer_id, ps.epoch, ps.next_seq = self.producer_id, self.epoch, 0
        batch.producer_id, batch.producer_epoch = ps.producer_id, ps.epoch
        batch.base_sequence = ps.next_seq
        ps.next_seq = (ps.next_seq + len(batch.values)) % SEQUENCE_MODULUS
        entry = _Entry(batch)
        ps.window.append(entry)
        ps.entries[batch] = entry

    # -- answers ---------------------------------------------------------------------------

    def acked(self, batch: ProducerBatch) -> None:
        """The leader has the batch (appended now, or earlier: a duplicate)."""
        ps, entry = self._find(batch)
        if ps is None or entry is None:
            return
        entry.state = _State.ACKED
        ps.prune()

    def failed(self, batch: ProducerBatch, *, definite: bool) -> None:
        """The batch will not be acknowledged: refused for good (``definite``: it is not in
        the log), or given up on (delivery.timeout.ms; it may be in the log)."""
        ps, entry = self._find(batch)
        if ps is None or entry is None:
            return
        entry.state = _State.FAILED
        last = ps.window[-1] is entry
        current = (batch.producer_id, batch.producer_epoch) == (ps.producer_id, ps.epoch)
        if definite and last and current:
            # Nothing was sequenced after it: its sequences can simply be used again.
            ps.window.pop()
            ps.entries.pop(batch, None)
            ps.next_seq = batch.base_sequence
        ps.prune()

    def sequence_error(self, batch: ProducerBatch, error: LogdError) -> bool:
        """OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID for ``batch``: True to retry
        it (the batch was not appended either way), after a reset when one is needed."""
        ps, entry = self._find(batch)
        if ps is None or entry is None:
            return False
        if isinstance(error, OutOfOrderSequenceError):
            previous = ps.predecessor(entry)
            if previous is not None and previous.state is _State.PENDING:
                return True  # refused behind a batch still pending: retried after it
        # Unknown to the leader, or refused with nothing pending before it: this batch and
        # every later one are not in the log. Start the partition over in a new epoch.
        if not ps.reset_wanted:
            _log.info(
                "%s-%d: %s; resetting sequences in a new epoch",
                batch.topic, batch.partition, error,
            )  # fmt: skip
        ps.reset_wanted = True
        return True

    def split(self, original: ProducerBatch, first: ProducerBatch, second: ProducerBatch) -> None:
        """The halves of a split batch take its place and its sequences."""
        ps, entry = self._find(original)
        if ps is None or entry is None:
            return
        at = list(ps.window).index(entry)
        del ps.window[at]
        del ps.entries[original]
        seq = original.base_sequence
        for half in (first, second):
            half.producer_id, half.producer_epoch = original.producer_id, original.producer_epoch
            half.base_sequence = seq
            seq = (seq + len(half.values)) % SEQUENCE_MODULUS
            new = _Entry(half)
            ps.window.insert(at, new)
            ps.entries[half] = new
            at += 1

    def _find(self, batch: ProducerBatch) -> tuple[PartitionSequences | None, _Entry | None]:
        ps = self._partitions.get((batch.topic, batch.partition))
        return ps, (ps.entries.get(batch) if ps is not None else None)

    # -- resets ----------------------------------------------------------------------------

    def _reset(self, ps: PartitionSequences) -> bool:
        """Re-sequence the partition's unacknowledged batches from 0 in a new epoch; False
        while a new producer id is needed (the sender fetches one)."""
        if (ps.producer_id, ps.epoch) == (self.producer_id, self.epoch):
            if self.epoch >= MAX_EPOCH:
                self.producer_id, self.epoch = NO_PRODUCER_ID, -1
                return False
            self.epoch += 1
            self.epoch_bumps += 1
        ps.producer_id, ps.epoch = self.producer_id, self.epoch
        entries = list(ps.window)
        acked = [i for i, e in enumerate(entries) if e.state is _State.ACKED]
        # Pending batches before an acknowledged one are in the log: they keep their
        # identity (their retries are duplicates) and go out first, being first in queue.
        start = acked[-1] + 1 if acked else 0
        keep: list[_Entry] = []
        seq = 0
        for index, entry in enumerate(entries):
            if entry.state is not _State.PENDING:
                ps.entries.pop(entry.batch, None)
                continue
            if index >= start:
                restamp(entry.batch, ps.producer_id, ps.epoch, seq)
                seq = (seq + len(entry.batch.values)) % SEQUENCE_MODULUS
            keep.append(entry)
        ps.window = deque(keep)
        ps.next_seq = seq
        ps.reset_wanted = False
        self.resets += 1
        return True


def restamp(batch: ProducerBatch, producer_id: int, epoch: int, base_sequence: int) -> None:
    """Give a batch a new identity; its encoded bytes (if any) are patched in place of a
    re-encode: the producer fields and the CRC, which covers them."""
    batch.producer_id, batch.producer_epoch, batch.base_sequence = (
        producer_id, epoch, base_sequence,
    )  # fmt: skip
    if batch.encoded is not None:
        buf = bytearray(batch.encoded)
        _PRODUCER.pack_into(buf, _PRODUCER_POS, producer_id, epoch, base_sequence)
        rewrite_crc(buf)
        batch.encoded = bytes(buf)
