"""The idempotent-producer bookkeeping of one hosted partition (issue 7), apart from the
partition's append and commit paths.

:class:`PartitionProducers` owns the partition's
:class:`~logd.broker.producer_state.ProducerStateManager` and keeps it in step with the log:

* **judge** (:meth:`check`) a batch carrying a producer id before the leader appends it: a
  duplicate is answered with its original offsets, a fenced epoch, a sequence gap or an
  unknown producer raise the typed error. A batch that is not appended is validated first, so
  a corrupt batch reads as corrupt, never as a duplicate; one that is appended is validated
  by the log, once.
* **record** (:meth:`record`) what the leader appended or proposed; **observe**
  (:meth:`observe`) what a follower appended.
* **snapshot** at every segment roll (the state of every batch before the new segment, in a
  worker thread) and at a clean shutdown (:meth:`write_snapshot`, synchronously).
* **rebuild** (:meth:`rebuild`) from the newest snapshot plus a header scan, when the
  partition opens, after a truncation and on becoming leader.

Ownership: owned by the broker's event loop, like its partition.
"""

from __future__ import annotations

import asyncio
import logging

from logd.broker.producer_snapshots import rebuild, write_snapshot
from logd.broker.producer_state import BatchMetadata, ProducerFields, ProducerStateManager
from logd.clock import Clock
from logd.errors import KafkaStorageError, LogdError
from logd.records.header import BatchHeader, validate_batch
from logd.storage import Log

__all__ = ["PartitionProducers"]

_log = logging.getLogger(__name__)


class PartitionProducers:
    """One partition's producer state and its snapshots; see the module doc."""

    def __init__(self, name: str, log: Log, expiration_ms: int, clock: Clock) -> None:
        self._name = name
        self._log = log
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        #: The state itself (``get(producer_id)`` …).
        self.state = ProducerStateManager(name, expiration_ms)
        self._rolled = False
        self._chain_on_roll()

    @property
    def expiration_ms(self) -> int:
        return self.state.expiration_ms

    @expiration_ms.setter
    def expiration_ms(self, value: int) -> None:
        self.state.expiration_ms = value

    # -- the leader -----------------------------------------------------------------------

    def check(
        self, batch: bytes | bytearray, fields: ProducerFields, now: int, max_message_bytes: int
    ) -> BatchMetadata | None:
        """The state's verdict on a batch the leader is about to append: None (append
        it), the original's metadata (a duplicate), or the typed error."""
        try:
            duplicate = self.state.check(fields, now)
        except LogdError:
            validate_batch(batch, max_size=max_message_bytes)
            raise
        if duplicate is not None:
            validate_batch(batch, max_size=max_message_bytes)
        return duplicate

    def appended(self, first_offset: int) -> None:
        """The leader appended a batch at ``first_offset``: a roll it made is snapshotted
        (the state of every batch before this one)."""
        if self._rolled:
            self._snapshot_at(first_offset)

    def record(
        self, fields: ProducerFields, first: int, last: int, max_timestamp: int, now: int
    ) -> None:
        self.state.record(fields, first, last, max_timestamp, now)

    # -- a follower -----------------------------------------------------------------------

    def observe(self, header: BatchHeader) -> None:
        """A follower appended this (leader-stamped) batch, in log order."""
        if self._rolled:
            self._snapshot_at(header.base_offset)
        self.state.observe(header, header.base_offset, self._clock.now_ms())

    # -- rebuilding and snapshots ---------------------------------------------------------

    def rebuild(self) -> int:
        """From the newest snapshot, then a header scan to the log end; the batches
        scanned."""
        return rebuild(self.state, self._log, self._clock.now_ms())

    def rebuild_or_log(self) -> None:
        try:
            self.rebuild()
        except KafkaStorageError as exc:
            # The log is offline: it refuses appends anyway, so no batch is judged on an
            # incomplete state.
            _log.error("%s: cannot rebuild the producer state: %s", self._name, exc)

    def write_snapshot(self) -> None:
        """Snapshot the state at the log end, synchronously (clean shutdown)."""
        if self._log.offline_reason is not None:
            return
        try:
            offset = self._log.log_end_offset
            write_snapshot(self._log.directory, offset, self.state.encode_snapshot(offset))
        except KafkaStorageError as exc:
            _log.warning("%s: cannot write a producer snapshot: %s", self._name, exc)

    def reopened(self, log: Log) -> None:
        """The partition's log was reopened from its files (issue 24): follow the new one."""
        self._log = log
        self._chain_on_roll()

    def _chain_on_roll(self) -> None:
        previous = self._log.on_roll

        def on_roll(log: Log) -> None:
            # Under the log's lock, inside the append: note it, snapshot after the append.
            if previous is not None:
                previous(log)
            self._rolled = True

        self._log.on_roll = on_roll

    def _snapshot_at(self, offset: int) -> None:
        """Write the state as of ``offset`` (a new segment's base) in a worker thread."""
        self._rolled = False
        data = self.state.encode_snapshot(offset)
        directory = self._log.directory
        task = self._loop.run_in_executor(None, write_snapshot, directory, offset, data)
        task.add_done_callback(self._snapshot_written)

    def _snapshot_written(self, task: asyncio.Future[None]) -> None:
        error = task.exception()
        if error is not None:
            _log.warning("%s: cannot write a producer snapshot: %s", self._name, error)
