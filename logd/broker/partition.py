"""One partition on this broker: its log, its role, its high watermark, its waiting readers.

Append path (leader).  :meth:`Partition.append` is synchronous: it checks the role, stamps
and appends before returning, so appends land in the order the caller makes them — the
produce stream's arrival order (the ``Produce`` RPC promises it). Durability and the high
watermark then follow from the *commit path*:

* Single node (this module): "committed" means fsynced. The partition asks the storage
  ``Flusher`` for an fsync and, when it reports the offset it made durable, calls
  :meth:`Partition.commit`. At most one flush request per partition is outstanding; appends
  made meanwhile are covered by the next one — group commit, one fsync a round however many
  appends wait (DESIGN.md principle 6).
* Replicated (issue 5): a :class:`Replicator` (the partition's Raft group,
  ``logd.cluster.replicated``) takes the append instead: it stamps the batch with Raft's
  next offset and term and proposes it; the group's driver writes it to the log and calls
  :meth:`Partition.commit` with Raft's commit point. An acks=all waiter completes only if the
  term at its last offset is still the term it was proposed in (else another leader replaced
  it: NOT_LEADER_OR_FOLLOWER, retriable). Leadership comes from Raft
  (:meth:`Partition.set_leader`), not from the metadata's assignment.

High watermark (DESIGN.md principle 3: consumers read only below it). With fsync ``always``
it is the committed — fsynced — end, so a consumer never sees a record that a crash could
take back, which is exactly what Raft's commit point will mean with one replica. With
``interval`` or ``never`` the operator has chosen speed over durability, and the high
watermark is the log end offset: waiting for an fsync that the policy does not promise would
only add latency. ``acks=all`` waits for the commit (an fsync) under every policy.

Idempotent producers (issue 7). The leader judges every batch that carries a producer id
against the partition's producer bookkeeping (:class:`~logd.broker.partition_producers
.PartitionProducers`, which owns the ``ProducerStateManager`` and its snapshots) before it
appends: a duplicate is not appended but answered with its original offsets (and, for
acks=all, once those are committed); a fenced epoch, a sequence gap or an unknown producer
raise the typed error. The state is rebuilt from the log (snapshot + header scan) when the
partition opens and when it becomes leader; a snapshot is written at every segment roll
and at a clean shutdown. Seams for replication: :meth:`Partition.observe_replicated` for
every batch a follower appends, :meth:`Partition.rebuild_producer_state` after a
truncation or on becoming leader (docs/internals.md).

Readers. A fetch waiting for data registers a future with :meth:`add_waiter`; every rise of
the high watermark (and every end of the partition's leadership) resolves all of them.

Ownership: owned by the broker's event loop; not thread-safe. Flush completions arrive from
the flusher thread and are handed to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import struct
from typing import Final, Protocol

from logd.broker.api import LeaderHint, TopicPartition
from logd.broker.partition_producers import PartitionProducers
from logd.broker.producer_state import BatchMetadata, ProducerFields, producer_fields
from logd.broker.topic_config import TimestampType, TopicConfig
from logd.clock import Clock
from logd.errors import (
    FencedLeaderEpochError,
    KafkaStorageError,
    LogdError,
    NotLeaderOrFollowerError,
    OffsetOutOfRangeError,
    UnknownLeaderEpochError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import PartitionAssignment
from logd.records.control import log_start_batch
from logd.records.header import ATTR_LOG_APPEND_TIME, BatchHeader, rewrite_crc, validate_batch
from logd.storage import Flusher, FlushPolicy, Log, TimestampOffset
from logd.storage.keys import require_keys
from logd.storage.space import DiskSpace

__all__ = ["AppendResult", "CommitWaiter", "Partition", "Replicator"]

_log = logging.getLogger(__name__)

_ATTRIBUTES: Final = struct.Struct(">h")
_ATTRIBUTES_POS: Final = 21
_MAX_TIMESTAMP: Final = struct.Struct(">q")
_MAX_TIMESTAMP_POS: Final = 35


class Replicator(Protocol):
    """The partition's Raft group, as the partition sees it (``logd.cluster.replicated``)."""

    def propose(
        self, batch: bytearray | memoryview, max_message_bytes: int
    ) -> tuple[int, int, int, int]:
        """Check, stamp (base offset, leader epoch) and propose one producer batch;
        returns (base offset, last offset, term, max timestamp). Raises the batch's typed
        error, or NotLeaderOrFollowerError when the group cannot take it."""
        ...

    def term_at(self, offset: int) -> int | None:
        """The term of the entry holding ``offset`` in the Raft log, None if not held."""
        ...

    def enforce_retention(self, high_watermark: int) -> int:
        """Retention under Raft: deletes old segments, remembers the snapshot point."""
        ...

    def step_down_for_space(self) -> int | None:
        """This broker's disk is below its reserve: hand the leadership to an in-sync
        replica whose disk is not (started now, or already under way); the broker it goes
        to, or None when no replica can take it."""
        ...

    def write_failing(self) -> str | None:
        """Why writes of this partition's log are failing (retried by itself); None when
        they are not."""
        ...


class CommitWaiter(Protocol):
    """What waits for an append's commit: the ``asyncio.Future[None]`` :meth:`Partition.append`
    makes, or the caller's own object (``waiter=``), which :meth:`Partition.commit` resolves
    in its own call -- the core's acks=all answer, so that no loop turn of a done callback
    lies between a commit and its produce answer (issue 22)."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class AppendResult:
    """Where a leader append landed. ``committed`` resolves (None) once the batch is
    committed, or raises; it is None when the caller did not ask to wait (acks 0 or 1) or
    waits with a ``waiter`` of its own."""

    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    committed: asyncio.Future[None] | None


class Partition:
    """A hosted partition. See the module doc for ownership and the commit path."""

    def __init__(
        self,
        tp: TopicPartition,
        log: Log,
        assignment: PartitionAssignment,
        config: TopicConfig,
        *,
        node_id: int,
        flusher: Flusher,
        clock: Clock,
        leader_hint: LeaderHint | None = None,
        replicator: Replicator | None = None,
    ) -> None:
        self.tp = tp
        self._replicator = replicator
        self.log = log
        self._node_id = node_id
        self._flusher = flusher
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._config = config
        if replicator is not None:
            # Leaderless until its Raft group says otherwise (set_leader), whatever the
            # metadata's placement prefers.
            assignment = dataclasses.replace(assignment, leader_id=-1, isr=())
        self._assignment = assignment
        self._leader_hint = leader_hint or LeaderHint()
        # Under Raft the high watermark is always the commit point (DESIGN.md principle 3).
        self._hw_is_commit = replicator is not None or flusher.policy is FlushPolicy.ALWAYS
        # What recovery kept may never have been fsynced (a SIGKILL leaves it in the page
        # cache): it counts as committed once an fsync has made it durable. Under Raft only
        # the group's commit point counts, which the driver publishes.
        #: Invariant: committed end ≤ log end; high watermark ≤ log end.
        self._committed_end = (
            log.log_start_offset
            if replicator is not None
            else min(log.recovery_point, log.log_end_offset)
        )
        self._high_watermark = self._committed_end if self._hw_is_commit else log.log_end_offset
        log.clean_limit = self._clean_limit  # the cleaner cleans committed data only
        # (end offset, term or -1, waiter) of appends waiting for their commit, in order.
        self._commit_waiters: collections.deque[tuple[int, int, CommitWaiter]] = collections.deque()
        self._read_waiters: set[asyncio.Future[None]] = set()
        self._flush_in_flight = False
        self._flush_wanted = False
        self._closed: LogdError | None = None
        #: The idempotent producers' bookkeeping (``partition_producers``).
        self.producer_book = PartitionProducers(
            str(tp), log, config.producer_id_expiration_ms, clock
        )
        #: The producer state itself.
        self.producers = self.producer_book.state
        self.producer_book.rebuild_or_log()
        if replicator is None and self._hw_is_commit and self._committed_end < log.log_end_offset:
            self._request_commit()

    # -- state ----------------------------------------------------------------------------

    def _clean_limit(self) -> int:
        return self._high_watermark

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def assignment(self) -> PartitionAssignment:
        return self._assignment

    @property
    def config(self) -> TopicConfig:
        return self._config

    @property
    def is_leader(self) -> bool:
        return self._assignment.leader_id == self._node_id and self._closed is None

    def leader_hint(self) -> LeaderHint:
        return self._leader_hint

    @property
    def leader_epoch(self) -> int:
        """The current leader epoch: the Raft term of the leadership (DESIGN.md 3)."""
        return self._assignment.leader_epoch

    def check_leader_epoch(self, current_leader_epoch: int) -> None:
        """Kafka's KIP-320 fencing of a client's view: -1 is unchecked; an older epoch is
        FENCED_LEADER_EPOCH (the client refreshes its metadata), a newer one
        UNKNOWN_LEADER_EPOCH (this broker has not learnt it yet)."""
        if current_leader_epoch < 0:
            return
        epoch = self._assignment.leader_epoch
        if current_leader_epoch < epoch:
            raise FencedLeaderEpochError(
                f"{self.tp}: leader epoch {current_leader_epoch} is older than {epoch}"
            )
        if current_leader_epoch > epoch:
            raise UnknownLeaderEpochError(
                f"{self.tp}: leader epoch {current_leader_epoch} is newer than {epoch}"
            )

    def check_leader(self) -> None:
        """Raise unless this broker may serve produce and consumer fetches for the partition."""
        if self._closed is not None:
            raise self._closed
        if self._assignment.leader_id != self._node_id:
            hint = self._leader_hint
            raise NotLeaderOrFollowerError(
                f"broker {self._node_id} does not lead {self.tp}"
                + (f"; broker {hint.leader_id} at {hint.address} does" if hint.address else ""),
                leader_hint=hint.address or None,
            )

    # -- metadata changes -----------------------------------------------------------------

    def update(
        self, assignment: PartitionAssignment, config: TopicConfig, leader_hint: LeaderHint
    ) -> None:
        """Apply a metadata change: a new config, a new leader or epoch."""
        if config != self._config:
            self._config = config
            self.log.update_config(config.log)
            self.producer_book.expiration_ms = config.producer_id_expiration_ms
        if self._replicator is not None:
            # Raft decides who leads: keep the leader, epoch and ISR it reported.
            current = self._assignment
            isr = tuple(r for r in current.isr if r in assignment.replicas)
            leader = current.leader_id if current.leader_id in assignment.replicas else -1
            assignment = dataclasses.replace(
                assignment, leader_id=leader, leader_epoch=current.leader_epoch, isr=isr
            )
            leader_hint = self._leader_hint
        self._set(assignment, leader_hint)

    def set_leader(
        self, leader_id: int, leader_epoch: int, leader_hint: LeaderHint, isr: tuple[int, ...]
    ) -> None:
        """Raft moved the leadership (or the ISR changed): the replicated partition's
        counterpart of :meth:`update`."""
        current = self._assignment
        assignment = dataclasses.replace(
            current,
            leader_id=leader_id if leader_id in current.replicas else -1,
            leader_epoch=leader_epoch,
            isr=tuple(r for r in isr if r in current.replicas),
        )
        self._set(assignment, leader_hint)

    def _set(self, assignment: PartitionAssignment, leader_hint: LeaderHint) -> None:
        was_leader = self.is_leader
        self._assignment = assignment
        self._leader_hint = leader_hint
        if not was_leader and self.is_leader:
            # A new leader judges the next batches: its state must hold every batch of its
            # log (Kafka rebuilds it in ``makeLeader`` the same way).
            self.producer_book.rebuild_or_log()
        if was_leader and not self.is_leader:
            # Kafka fails the pending produces of a leader that lost its leadership.
            self._fail_commit_waiters(
                NotLeaderOrFollowerError(f"broker {self._node_id} no longer leads {self.tp}")
            )
            self._wake_readers()

    def close(self, reason: LogdError | None = None) -> None:
        """Stop serving: pending commits fail with ``reason``, waiting readers wake."""
        if self._closed is not None:
            return
        self._closed = reason or UnknownTopicOrPartitionError(f"{self.tp} is closing")
        self._fail_commit_waiters(self._closed)
        self._wake_readers()

    def storage_failed(self, error: LogdError) -> None:
        """The log went offline (a failed fsync): appends waiting for their commit fail
        now with ``error`` rather than at their timeout."""
        self._fail_commit_waiters(error)

    def reopened(self, log: Log) -> None:
        """The replication side reopened the offline log from its files (issue 24): serve
        from the new one. What it no longer holds is neither committed nor readable here
        until the leader sends it again."""
        self.log = log
        log.clean_limit = self._clean_limit
        self.producer_book.reopened(log)
        end = log.log_end_offset
        self._committed_end = min(self._committed_end, end)
        self._high_watermark = min(self._high_watermark, end)
        self._wake_readers()

    # -- the leader's append --------------------------------------------------------------

    def append(
        self, batch: bytes | bytearray, *, wait_commit: bool, waiter: CommitWaiter | None = None
    ) -> AppendResult:
        """Append one producer batch as leader. Synchronous: no await between the role check
        and the append. Raises the batch's typed error (CorruptRecordError, ...). A
        duplicate of an idempotent producer's batch is answered, not appended.

        ``wait_commit``: the result's ``committed`` future resolves at the commit; or, given
        a ``waiter``, that is resolved instead, in :meth:`commit`'s own call (perhaps in
        this one: a duplicate already committed)."""
        self.check_leader()
        space = self.log.space
        if space is not None and not space.room_for(len(batch)):
            raise self._space_refusal(space)
        failing = self.write_failing()
        if failing is not None:
            raise KafkaStorageError(
                f"broker {self._node_id}: writes to {self.tp} are failing ({failing}); "
                "the broker keeps trying and takes writes again once its disk does"
            )
        if self._config.log.compact:
            require_keys(batch, self.tp.topic)
        now = self._clock.now_ms()
        fields = producer_fields(batch)
        if fields is not None:
            limit = self._config.log.max_message_bytes
            duplicate = self.producer_book.check(batch, fields, now, limit)
            if duplicate is not None:
                return self._duplicate(duplicate, wait_commit, waiter)
        append_time = -1
        if self._config.timestamp_type is TimestampType.LOG_APPEND_TIME:
            batch = _set_log_append_time(batch, self._config.log.max_message_bytes, now)
            append_time = now
        if self._replicator is not None:
            return self._propose(batch, wait_commit, waiter, append_time, fields, now)
        info = self.log.append(batch, self._assignment.leader_epoch, now)
        self.producer_book.appended(info.first_offset)
        if fields is not None:
            self.producer_book.record(fields, info.first_offset, info.last_offset,
                                      info.max_timestamp, now)  # fmt: skip
        end = info.last_offset + 1
        committed = self._wait_commit(wait_commit, waiter, end, -1)
        if self._hw_is_commit or wait_commit:
            self._request_commit()
        if not self._hw_is_commit:
            self._advance_high_watermark(end)
        return AppendResult(
            info.first_offset, info.last_offset, append_time, self.log.log_start_offset, committed
        )

    def propose_log_start(self, offset: int) -> asyncio.Future[None] | None:
        """Move the log start to ``offset`` (the caller checked it is ≤ the high watermark;
        ``logd.broker.delete_records``). Replicated: a LOG_START control record is proposed;
        the future resolves once it is committed, when every replica moves its own start
        (``logd.cluster.log_starts``). Alone: the start moves now (fsynced); None."""
        self.check_leader()
        if self._replicator is None:
            self.log.delete_records_before(offset)
            return None
        batch = bytearray(log_start_batch(offset))
        _, last, term, _ = self._replicator.propose(batch, self._config.log.max_message_bytes)
        committed: asyncio.Future[None] = self._loop.create_future()
        self._commit_waiters.append((last + 1, term, committed))
        return committed

    def write_failing(self) -> str | None:
        """Why writes of the log are failing (issue 24), or None."""
        return self._replicator.write_failing() if self._replicator is not None else None

    def _space_refusal(self, space: DiskSpace) -> LogdError:
        """The answer to a write below the disk's reserve (issue 24): with another in-sync
        replica that has space, leadership moves there and the client is sent after it
        (NOT_LEADER_OR_FOLLOWER, retriable); alone, KAFKA_STORAGE_ERROR naming the disk and
        the setting (retriable: writes resume by themselves once space returns)."""
        to = self._replicator.step_down_for_space() if self._replicator is not None else None
        if to is not None:
            return NotLeaderOrFollowerError(
                f"broker {self._node_id}'s disk is below its free-space reserve: the "
                f"leadership of {self.tp} moves to broker {to}"
            )
        return space.refusal(f"broker {self._node_id}: a write to {self.tp}")

    def _propose(
        self,
        batch: bytes | bytearray,
        wait_commit: bool,
        waiter: CommitWaiter | None,
        append_time: int,
        fields: ProducerFields | None,
        now: int,
    ) -> AppendResult:
        """The replicated append: Raft stamps and proposes; its driver writes the log. The
        producer state records the batch now (the next batch of the same producer may come
        in the same loop turn, before the driver writes this one)."""
        assert self._replicator is not None
        buf = batch if isinstance(batch, bytearray) else bytearray(batch)
        limit = self._config.log.max_message_bytes
        base, last, term, max_timestamp = self._replicator.propose(buf, limit)
        if fields is not None:
            self.producer_book.record(fields, base, last, max_timestamp, now)
        committed = self._wait_commit(wait_commit, waiter, last + 1, term)
        return AppendResult(base, last, append_time, self.log.log_start_offset, committed)

    def _wait_commit(
        self, wait_commit: bool, waiter: CommitWaiter | None, end: int, term: int
    ) -> asyncio.Future[None] | None:
        """Queue the wait of an append ending at ``end`` (written in ``term``, or -1): the
        caller's ``waiter``, else (``wait_commit``) a new future, returned."""
        if waiter is not None:
            self._commit_waiters.append((end, term, waiter))
            return None
        if not wait_commit:
            return None
        committed = self._loop.create_future()
        self._commit_waiters.append((end, term, committed))
        return committed

    # -- idempotent producers -------------------------------------------------------------

    def _duplicate(
        self, original: BatchMetadata, wait_commit: bool, waiter: CommitWaiter | None
    ) -> AppendResult:
        """Answer a retried batch with the offsets it got the first time; acks=all waits
        until they are committed, as it would have for the original (Kafka's purgatory)."""
        committed: asyncio.Future[None] | None = None
        if waiter is None and wait_commit:
            committed = waiter = self._loop.create_future()
        if waiter is not None:
            end = original.last_offset + 1
            if end <= self._committed_end:
                waiter.set_result(None)
            else:
                waiters = self._commit_waiters
                at = bisect.bisect_right(waiters, end, key=lambda entry: entry[0])
                if self._replicator is None:
                    waiters.insert(at, (end, -1, waiter))
                    self._request_commit()
                else:
                    # Committed only if it is still the entry of the term it was written in.
                    term = self._replicator.term_at(original.last_offset)
                    waiters.insert(at, (end, -1 if term is None else term, waiter))
        return AppendResult(
            original.first_offset, original.last_offset, -1, self.log.log_start_offset, committed
        )

    def observe_replicated(self, header: BatchHeader) -> None:
        """A follower appended this (leader-stamped) batch: keep the producer state in step
        (the replication driver's seam, issue 5). Call after each batch's append, in log
        order; a roll the append made is snapshotted like the leader's."""
        self.producer_book.observe(header)

    def rebuild_producer_state(self) -> int:
        """Rebuild the producer state from the log: newest snapshot, then a header scan to
        the log end. Call after a truncation (``Log.truncate_to``/``reset_to``) and on
        becoming leader. Returns the batches scanned."""
        return self.producer_book.rebuild()

    def write_producer_snapshot(self) -> None:
        """Snapshot the producer state at the log end, synchronously (clean shutdown)."""
        if self._closed is None:
            self.producer_book.write_snapshot()

    # -- the commit path (single node: an fsync; replicated: the Raft driver) -------------

    def _request_commit(self) -> None:
        if self._flush_in_flight:
            self._flush_wanted = True  # the next round covers this append too
            return
        self._flush_in_flight = True
        self._flush_wanted = False
        future = self._flusher.request(self.log)
        future.add_done_callback(self._flush_done_threadsafe)

    def _flush_done_threadsafe(self, future: concurrent.futures.Future[int]) -> None:
        # Runs in the flusher thread (or here, if the future was already done). A closed
        # loop raises RuntimeError: the broker is gone and nobody waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._flush_done, future)

    def _flush_done(self, future: concurrent.futures.Future[int]) -> None:
        self._flush_in_flight = False
        error = future.exception()
        if error is not None:
            if self._closed is None:  # a deleted log's flush fails; that is no news
                _log.error("%s: fsync failed: %s", self.tp, error)
            reason = error if isinstance(error, LogdError) else KafkaStorageError(str(error))
            self._fail_commit_waiters(reason)
            return
        self.commit(future.result())
        if self._flush_wanted and self._committed_end < self.log.log_end_offset:
            self._request_commit()

    def commit(self, end_offset: int) -> None:
        """Everything below ``end_offset`` is committed: answer the appends waiting for it
        and, when the high watermark is the commit point, raise it. The seam where Raft's
        commit index enters (issue 5)."""
        end = min(end_offset, self.log.log_end_offset)
        if end <= self._committed_end:
            return
        self._committed_end = end
        waiters = self._commit_waiters
        while waiters and waiters[0][0] <= end:
            last_end, term, future = waiters.popleft()
            if future.done():
                continue
            replicator = self._replicator
            if term >= 0 and replicator is not None and replicator.term_at(last_end - 1) != term:
                # Raft §5.4.2 / docs/replication.md: committed at that offset, but an entry
                # of another leader's term: ours was replaced.
                future.set_exception(
                    NotLeaderOrFollowerError(
                        f"{self.tp}: the batch ending at {last_end - 1} was replaced by "
                        "another leader's; retry"
                    )
                )
                continue
            future.set_result(None)
        if self._hw_is_commit:
            self._advance_high_watermark(end)

    def _advance_high_watermark(self, offset: int) -> None:
        assert offset <= self.log.log_end_offset, (offset, self.log.log_end_offset)
        if offset > self._high_watermark:
            self._high_watermark = offset
            self._wake_readers()

    def _fail_commit_waiters(self, error: LogdError) -> None:
        waiters, self._commit_waiters = self._commit_waiters, collections.deque()
        for _, _, future in waiters:
            if not future.done():
                future.set_exception(error)

    # -- reads ----------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, *, any_replica: bool = False) -> bytes:
        """Stored batches from the one holding ``offset``, never at or past the high
        watermark. OffsetOutOfRangeError outside [log start, log end]; an offset between
        the high watermark and the log end (acknowledged with acks=1, not yet committed)
        reads as empty, as in Kafka, so a reader waits for it rather than failing.

        ``any_replica``: this broker's own replica, led here or not (a follower's high
        watermark is the Raft commit point its leader told it, so it reads committed
        records only, perhaps fewer than the leader has)."""
        self._check_readable(any_replica)
        return self.log.read(offset, max_bytes, max_offset=self._high_watermark)

    def _check_readable(self, any_replica: bool) -> None:
        if not any_replica:
            self.check_leader()
        elif self._closed is not None:
            raise self._closed

    def check_offset(self, offset: int, *, any_replica: bool = False) -> None:
        """OffsetOutOfRangeError unless ``offset`` lies in [log start, log end]."""
        self._check_readable(any_replica)
        start, end = self.log.log_start_offset, self.log.log_end_offset
        if not start <= offset <= end:
            raise OffsetOutOfRangeError(f"offset {offset} of {self.tp} is outside [{start}, {end}]")

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampOffset | None:
        self.check_leader()
        return self.log.offset_for_timestamp(timestamp_ms, max_offset=self._high_watermark)

    def max_timestamp_offset(self) -> TimestampOffset | None:
        """The first committed record carrying the largest timestamp (Kafka's KIP-734)."""
        self.check_leader()
        largest = self.log.max_timestamp()
        if largest < 0:
            return None
        return self.log.offset_for_timestamp(largest, max_offset=self._high_watermark)

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """Kafka's OffsetForLeaderEpoch: (largest epoch <= ``leader_epoch``, its end)."""
        self.check_leader()
        return self.log.end_offset_for_epoch(leader_epoch)

    def enforce_retention(self) -> int:
        """Delete the segments retention lets go, never one at or past the high watermark."""
        if self._replicator is not None:
            return self._replicator.enforce_retention(self._high_watermark)
        return self.log.enforce_retention(self._high_watermark)

    def add_waiter(self, future: asyncio.Future[None], *, any_replica: bool = False) -> None:
        """Resolve ``future`` at the next rise of the high watermark (or loss of the role;
        ``any_replica``: of the replica)."""
        if self._closed is not None or not (any_replica or self.is_leader):
            if not future.done():
                future.set_result(None)
            return
        self._read_waiters.add(future)

    def remove_waiter(self, future: asyncio.Future[None]) -> None:
        self._read_waiters.discard(future)

    def close_waiters(self) -> None:
        """Wake every waiting reader now (the broker is draining)."""
        self._wake_readers()

    def _wake_readers(self) -> None:
        waiters, self._read_waiters = self._read_waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)


def _set_log_append_time(batch: bytes | bytearray, max_size: int, now_ms: int) -> bytearray:
    """Mark the batch LogAppendTime with ``now_ms`` as its max timestamp (Kafka's
    ``setMaxTimestamp``). Both fields are CRC'd: the producer's CRC is checked first, so a
    corrupt batch is never given a fresh, valid checksum."""
    validate_batch(batch, max_size=max_size)
    buf = batch if isinstance(batch, bytearray) else bytearray(batch)
    (attributes,) = _ATTRIBUTES.unpack_from(buf, _ATTRIBUTES_POS)
    _ATTRIBUTES.pack_into(buf, _ATTRIBUTES_POS, attributes | ATTR_LOG_APPEND_TIME)
    _MAX_TIMESTAMP.pack_into(buf, _MAX_TIMESTAMP_POS, now_ms)
    rewrite_crc(buf)
    return buf
