"""A hosted partition's Raft group: the ``Replicator`` its ``Partition`` appends through,
and the listener that carries Raft's leadership and commit point back to it.

Produce (leader): check the batch (header, CRC, ``max.message.bytes``), stamp
``baseOffset = node.last_offset + 1`` and ``partitionLeaderEpoch = node.term`` (nothing can
change them before the proposal: no await in between), propose. The driver's next pass
writes it to the log with the other proposals of that pass, sends it to the followers and
asks for one fsync; commit -> ``Partition.commit(commit + 1)``: the high watermark.
acks=1 is answered once the batch is in the leader's Raft log (its in-memory tail, on its
way to the page cache in the same loop turn: both are lost with the leader, as Kafka's
acks=1 is); acks=all once committed, and only if its term still holds at its offset.

Leadership: every change of (leader, term) becomes ``Partition.set_leader`` and then
``ReplicaManager.announce_leadership`` (the group coordinators follow it). The ISR a leader
reports is computed by :class:`~logd.cluster.isr.IsrTracker` (see there).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from logd.clock import Clock
from logd.cluster.damage import find_damage
from logd.cluster.driver import RaftDriver, RaftGroup
from logd.cluster.hosted import HostedPartition, LeadershipAnnouncer
from logd.cluster.isr import IsrTracker
from logd.cluster.log_starts import PendingLogStarts
from logd.cluster.move_plan import bytes_left
from logd.cluster.partition_log import PartitionLog
from logd.cluster.table import LeaderInfo, size_class
from logd.errors import (
    InvalidReplicaAssignmentError,
    KafkaStorageError,
    LogdError,
    NotLeaderOrFollowerError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.types import LeaderHint
from logd.records.control import log_start_in
from logd.records.header import parse_header, stamp
from logd.storage import Log
from logd.storage.batches import check_batch
from replication import (
    ConfState,
    Entry,
    NotLeaderError,
    ProposalDroppedError,
    RaftError,
    Role,
    Snapshot,
)

__all__ = ["PartitionReplica"]

_log = logging.getLogger(__name__)

#: An offline log is reopened after this, doubling while that fails.
_REOPEN_MIN_S = 0.2
_REOPEN_MAX_S = 30.0


class PartitionReplica:
    """The Raft side of one hosted partition. Owned by the loop."""

    def __init__(
        self,
        driver: RaftDriver,
        storage: PartitionLog,
        *,
        hint_for: Callable[[int, int], LeaderHint],
        announce: LeadershipAnnouncer,
        isr: IsrTracker,
        clock: Clock,
        initial_conf: ConfState,
        full_brokers: Callable[[], frozenset[int]] = frozenset,
        reopen: Callable[[Log], Log] | None = None,
        leading: Callable[[PartitionReplica, bool], None] = lambda replica, led: None,
    ) -> None:
        """``leading``: told when this broker starts or stops leading the partition (the
        liveness loop then samples only the partitions led here)."""
        self._leading = leading
        self._clock = clock
        #: Brokers whose disks are below their reserve (the controller's table says).
        self._full_brokers = full_brokers
        #: Opens an offline log afresh from its files (``LogManager.reopen``; a worker
        #: thread calls it).
        self._reopen = reopen
        #: Why the log is offline while it is being reopened; None otherwise.
        self.offline: str | None = None
        self._reopening: asyncio.Task[None] | None = None
        #: A step-down for a failing disk is scheduled (``on_write_failed``).
        self._stepping_down = False
        self._initial_conf = initial_conf
        self.driver = driver
        self.storage = storage
        self._hint_for = hint_for
        self._announce = announce
        self.isr = isr
        self.partition: HostedPartition | None = None
        self.group: RaftGroup | None = None
        #: Stand for election as soon as the group starts (set by whoever builds it).
        self.campaign_at_start = False
        self._scrubbing = False
        #: (term, last offset) of what this broker proposed as leader: the producer state
        #: recorded those batches when they were proposed.
        self._proposed = (-1, -1)
        self._leader: int | None = None
        self._term = 0
        #: (term, quiet spell) of the quiet leader whose ISR was last sampled.
        self._sampled_quiet: tuple[int, int, frozenset[int]] | None = None
        self._info: LeaderInfo | None = None
        #: Set at every change of leader or term (``hand_over`` waits on it).
        self._moved = asyncio.Event()
        topic, _, partition = self.name.rpartition("-")
        self.key = (topic, int(partition))
        #: LOG_START records written and not applied yet (DeleteRecords; see log_starts).
        self.log_starts = PendingLogStarts(storage.log.directory)

    @property
    def name(self) -> str:
        return self.storage.log.name

    def start(self, partition: HostedPartition, *, campaign: bool) -> None:
        self.partition = partition
        self.storage.on_written = self._written
        self.storage.on_cut = self._cut
        log = self.storage.log
        self.log_starts.keep(log.log_start_offset, log.log_end_offset)
        hold = self.storage.fresh and not campaign  # the preferred replica campaigns
        self.group = self.driver.add_group(
            self.name, self.storage, self, campaign=campaign, hold=hold
        )

    def _cut(self) -> None:
        log = self.storage.log
        self.log_starts.keep(log.log_start_offset, log.log_end_offset)
        if self.partition is not None:
            self.partition.rebuild_producer_state()

    def stop(self) -> None:
        self.driver.remove_group(self.name)
        self.group = None
        if self._leader == self.driver.node_id:
            self._leading(self, False)

    # -- Replicator ---------------------------------------------------------------------

    def propose(
        self, batch: bytearray | memoryview, max_message_bytes: int
    ) -> tuple[int, int, int, int]:
        group = self.group
        if self.offline is not None:
            raise KafkaStorageError(f"{self.name} is offline ({self.offline}); it is being "
                                    "reopened from its files")  # fmt: skip
        if group is None:
            raise NotLeaderOrFollowerError(f"{self.name} is not replicated here any more")
        _, delta, max_timestamp = check_batch(batch, max_message_bytes)
        node = group.node
        base, term = node.last_offset + 1, node.term
        stamp(batch, base, term)
        try:
            entry = self.driver.propose(group, batch, delta + 1)
        except NotLeaderError as exc:
            hint = self._hint_for(exc.leader if exc.leader is not None else -1, node.term)
            raise NotLeaderOrFollowerError(
                f"{self.name}: broker {self.driver.node_id} is not the leader",
                leader_hint=hint.address or None,
            ) from None
        except ProposalDroppedError as exc:
            raise NotLeaderOrFollowerError(f"{self.name}: {exc}") from None
        assert entry.base_offset == base and entry.term == term, (entry, base, term)
        self._proposed = (term, entry.last_offset)
        return entry.base_offset, entry.last_offset, entry.term, max_timestamp

    def term_at(self, offset: int) -> int | None:
        return self.group.node.term_at(offset) if self.group is not None else None

    def enforce_retention(self, high_watermark: int) -> int:
        """Retention runs in a worker thread (``RetentionTask``); the Raft log may only move
        its start on the loop, between two core calls, so the deletion hops there."""
        loop = self.driver.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return self._retain(high_watermark)
        future = asyncio.run_coroutine_threadsafe(self._retain_async(high_watermark), loop)
        return future.result()

    async def _retain_async(self, high_watermark: int) -> int:
        return self._retain(high_watermark)

    def _retain(self, high_watermark: int) -> int:
        if self.group is None:
            return 0
        log = self.storage.log
        before = log.epoch_entries()
        deleted = log.enforce_retention(high_watermark)
        if deleted:
            self.storage.log_start_moved(before)
        return deleted

    def _written(self, entry: Entry) -> None:
        """The driver wrote a batch: unless this broker proposed it (and recorded it then),
        the producer state observes it, as issue 7's follower seam asks. A LOG_START
        record (DeleteRecords) is noted, to be applied once committed."""
        start = log_start_in(entry.data)
        if start is not None:
            self.log_starts.note(entry.last_offset, start)
        term, last = self._proposed
        if entry.term == term and entry.last_offset <= last:
            return
        if self.partition is not None:
            self.partition.observe_replicated(parse_header(entry.data))

    # -- liveness -----------------------------------------------------------------------

    def leader_info(self, now_ms: int) -> LeaderInfo | None:
        """Sample the ISR and report it, when this broker leads the partition. A quiet
        group's ISR cannot change until it wakes or a follower is called down (which does
        not wake it: quiesce.py): sampled once per quiet spell and view of the down peers,
        so that idle partitions cost nothing here."""
        group = self.group
        if group is None or group.node.role is not Role.LEADER:
            return None
        node = group.node
        quiet = (node.term, node.quiesces, self.driver.down) if node.quiesced else None
        info = self._info
        size = info.size if info is not None else 0
        if quiet is None or quiet != self._sampled_quiet:
            if self.isr.sample(node.status(), now_ms):
                self.refresh()
            self._sampled_quiet = quiet
            size = size_class(self.storage.log.size_bytes)
        move_bytes = self._move_bytes()
        if (
            info is None
            or info.epoch != node.term
            or info.isr != self.isr.in_sync
            or info.move_bytes != move_bytes
            or info.size != size
        ):
            # The same object while nothing changed: the heartbeat tells what changed by
            # identity first (every partition led here, every heartbeat: issue 21).
            info = self._info = LeaderInfo(
                self.driver.node_id, node.term, self.isr.in_sync, move_bytes, size
            )
        return info

    def _move_bytes(self) -> int:
        """While the partition moves: the bytes of our log its joining replicas still
        lack, summed (-1: not moving, or unreadable) -- ``partitions status`` shows it."""
        partition, group = self.partition, self.group
        if partition is None or group is None or not partition.assignment.moving:
            return -1
        target = frozenset(partition.assignment.target)
        try:
            return bytes_left(group.node.status(), target, self.storage.log.bytes_from)
        except LogdError:
            return -1

    def local_view(self) -> tuple[int | None, int, tuple[int, ...]]:
        """(leader, term, ISR if led here) for metadata answers: local Raft knowledge."""
        return self._leader, self._term, self.isr.in_sync

    def step_down_for_space(self) -> int | None:
        """This broker's disk is below its reserve: hand the leadership to an in-sync
        replica whose disk is not (``Replicator.step_down_for_space``)."""
        group = self.group
        if group is None or group.node.role is not Role.LEADER:
            return None
        status = group.node.status()
        if status.transferee is not None:
            return int(status.transferee)
        full = self._full_brokers()
        me = self.driver.node_id
        for peer in self.isr.in_sync:
            progress = status.progress.get(peer)
            if peer == me or peer in full or progress is None or not progress.recent_active:
                continue
            try:
                group.node.transfer_leadership(peer)
            except RaftError:
                continue
            _log.warning("%s: this broker's disk is below its free-space reserve; handing "
                         "leadership to broker %d", self.name, peer)  # fmt: skip
            self.driver.touched(group)
            return peer
        return None

    def transfer(self, to: int) -> None:
        """The rebalancer's move to the preferred replica ``to`` (TimeoutNow once it has
        our log); a refusal is logged, not raised (the rebalancer tries again later)."""
        group = self.group
        if group is None or group.node.role is not Role.LEADER or to == self.driver.node_id:
            return
        try:
            group.node.transfer_leadership(to)
        except RaftError as exc:
            _log.info("%s: leadership transfer to %d refused: %s", self.name, to, exc)
            return
        _log.info("%s: handing leadership to broker %d (its preferred replica)", self.name, to)
        self.driver.touched(group)

    async def caught_up(self, to: int, timeout_s: float) -> bool:
        """Whether follower ``to`` may take over: in the ISR, or -- the ISR of a leader
        that has just been elected holds only itself until its first samples -- heard
        from lately and holding everything this leader had when asked. Waits up to
        ``timeout_s`` for the latter (a follower a round trip behind catches up in
        milliseconds; a dead one does not)."""
        group = self.group
        if group is None:
            return False
        goal = group.node.last_offset
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if to in self.isr.in_sync:
                return True
            progress = group.node.status().progress.get(to)
            if progress is not None and progress.recent_active and progress.match >= goal:
                return True
            if loop.time() >= deadline or self.group is not group:
                return False
            await asyncio.sleep(0.02)

    async def hand_over(self, to: int, timeout_s: float) -> tuple[int, int]:
        """Transfer leadership to ``to`` and wait until another broker leads: its
        ``(leader, term)``. NotLeaderOrFollowerError when this broker does not lead (or
        stops hosting the partition meanwhile); RequestTimedOutError when Raft abandons
        the transfer (the target did not win within an election timeout, thesis §3.10)
        or ``timeout_s`` passes."""
        group = self.group
        me = self.driver.node_id
        if group is None or group.node.role is not Role.LEADER:
            raise NotLeaderOrFollowerError(f"{self.name}: broker {me} is not the leader")
        try:
            group.node.transfer_leadership(to)
        except NotLeaderError:
            raise NotLeaderOrFollowerError(f"{self.name}: broker {me} is not the leader") from None
        except RaftError as exc:  # not a voter: the caller checked the replicas already
            raise InvalidReplicaAssignmentError(f"{self.name}: {exc}") from None
        _log.info("%s: handing leadership to broker %d (asked by an operator)", self.name, to)
        self.driver.touched(group)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self._leader is not None and self._leader != me:
                return self._leader, self._term
            if self.group is not group:
                raise NotLeaderOrFollowerError(f"{self.name} stopped being hosted here")
            node = group.node
            if node.role is Role.LEADER and node.status().transferee is None:
                raise RequestTimedOutError(
                    f"{self.name}: broker {to} did not take the leadership within an "
                    f"election timeout (broker {me} still leads)"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RequestTimedOutError(
                    f"{self.name}: no new leader within {timeout_s * 1000:.0f} ms"
                )
            # Leadership changes set the event; an abandoned transfer does not, so look
            # again every tick.
            self._moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), min(remaining, 0.05))

    # -- GroupListener ------------------------------------------------------------------

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None:
        me = self.driver.node_id
        if role is Role.LEADER and self._leader != leader:
            _log.info(
                "%s: leading in epoch %d", self.name, term,
                extra={"event": "leader_elected", "partition": self.name, "epoch": term},
            )  # fmt: skip
        elif self._leader == me and leader != me:
            # Why a leader stopped leading says a lot about an unstable cluster: a higher
            # term (another replica campaigned), or check-quorum (no quorum heard).
            _log.info("%s: no longer leading in epoch %d (now epoch %d, %s, leader %s)",
                      self.name, self._term, term, role.value, leader)  # fmt: skip
        if (self._leader == me) != (leader == me):
            self._leading(self, leader == me)
        self._leader, self._term = leader, term
        self._moved.set()
        self.isr.reset(leader == self.driver.node_id)
        self.refresh()

    def refresh(self) -> None:
        """Push leader, epoch and ISR to the partition (leadership or ISR changed)."""
        partition = self.partition
        if partition is None:
            return
        leader = self._leader if self._leader is not None else -1
        me = self.driver.node_id
        isr = self.isr.in_sync if leader == me else partition.assignment.isr
        partition.set_leader(leader, self._term, self._hint_for(leader, self._term), isr)
        self._announce(partition)

    def on_commit(self, commit: int) -> None:
        if self.log_starts:
            self._apply_log_starts(commit)
        if self.partition is not None:
            self.partition.commit(commit + 1)

    def _apply_log_starts(self, commit: int) -> None:
        """Move the log start as the LOG_START records committed by ``commit`` ask (before
        the partition hears of the commit: the leader answers DeleteRecords with the moved
        start). Between two Raft core calls, as retention's deletions."""
        start = self.log_starts.due(commit)
        if start is None:
            return
        log = self.storage.log
        before = log.epoch_entries()
        try:
            log.delete_records_before(min(start, log.log_end_offset))
        except LogdError as exc:  # the log went offline: its reopening reapplies the note
            _log.error("%s: cannot move the log start to %d: %s", self.name, start, exc)
            return
        self.storage.log_start_moved(before)
        self.log_starts.applied(commit)
        _log.info("%s: records before %d deleted", self.name, log.log_start_offset)

    def on_apply(self, entries: Sequence[Entry]) -> None:
        del entries  # a partition applies nothing: the commit point is its output

    def on_snapshot(self, snapshot: Snapshot) -> None:
        del snapshot

    def on_storage_error(self, error: LogdError) -> None:
        if self.storage.log.offline_reason is None:
            self.scrub()  # damage met reading the log
            return
        # A failed fsync, or a write the log could not undo: this log is offline. Reopen it
        # from its files and rejoin as a replica that lost data (its leader repairs it).
        if self._reopening is None and self._reopen is not None:
            self.offline = str(error)
            if self.partition is not None:
                self.partition.storage_failed(KafkaStorageError(f"{self.name}: {error}"))
            self._reopening = self.driver.loop.create_task(
                self._reopen_forever(), name=f"reopen-{self.name}"
            )

    def on_write_failed(self, error: str) -> None:
        """A write of this log failed and was undone; the driver retries it. A leader must
        not hold the partition while its disk fails (Kafka moves leadership off a failed
        log directory): with other voters it steps down at once -- restarted over the same
        log as a follower, as after a crash: what it acknowledged is on disk, so it lost
        nothing and still votes -- and a replica with a working disk is elected. Alone, it
        keeps the partition and keeps trying; appends are refused meanwhile
        (:meth:`write_failing`)."""
        group = self.group
        if group is None or group.node.role is not Role.LEADER or self._stepping_down:
            return
        if set(group.node.conf.voters) <= {self.driver.node_id}:
            return
        self._stepping_down = True
        _log.warning("%s: cannot write its log as leader (%s); stepping down so that a "
                     "replica with a working disk leads", self.name, error)  # fmt: skip
        self.driver.loop.call_soon(self._step_down, group)

    def _step_down(self, group: RaftGroup) -> None:
        self._stepping_down = False
        if self.group is not group or self.partition is None or group.closed:
            return
        log = self.storage.log
        durable = max(log.recovery_point, log.log_start_offset)
        if log.log_end_offset > durable:
            # What the failed Ready wrote before its failure never became durable: cut it,
            # as a crash would. Nothing past the durable point was acknowledged (an
            # acknowledgement waits for the flush that moves it), so the replica keeps its
            # vote; a restarted follower must not answer for bytes only the page cache has.
            try:
                log.truncate_to(durable)
            except KafkaStorageError as exc:  # the cut failed: offline, reopened from files
                self.stop()
                self.on_storage_error(exc)
                return
        self.restart(log, lost_data=False)

    def write_failing(self) -> str | None:
        """Why this replica's writes are failing (retried by the driver); None when they
        are not (a follower held back below the reserve is not failing)."""
        group = self.group
        if group is None or not (group.unwritten and group.write_failed):
            return None
        return group.write_error

    async def _reopen_forever(self) -> None:
        """Reopen the offline log, with backoff while that fails (a disk that is gone)."""
        assert self._reopen is not None
        delay = _REOPEN_MIN_S
        said = False
        try:
            while self.partition is not None:
                await asyncio.sleep(delay)
                try:
                    log = await asyncio.to_thread(self._reopen, self.storage.log)
                except UnknownTopicOrPartitionError:
                    return  # deleted meanwhile: nothing to reopen
                except LogdError as exc:
                    if not said:
                        _log.error("%s: cannot reopen the log (%s); trying again with "
                                   "backoff", self.name, exc)  # fmt: skip
                    said, delay = True, min(delay * 2, _REOPEN_MAX_S)
                    continue
                _log.warning("%s: reopened from its files at offsets [%d, %d); rejoining as "
                             "a replica that lost data", self.name, log.log_start_offset,
                             log.log_end_offset)  # fmt: skip
                self.offline = None
                self.restart(log, lost_data=True)
                return
        finally:
            self._reopening = None

    # -- damage: find it, cut the log there, rejoin as a replica that lost data -----------

    def scrub(self) -> None:
        """Read the whole log once in a worker thread (each batch's CRC is checked as it
        is read); at the first damaged batch, repair. A flipped bit in a sealed segment is
        invisible to crash recovery, which looks at the active segment only."""
        if self._scrubbing or self.group is None:
            return
        self._scrubbing = True
        loop = self.driver.loop
        future = loop.run_in_executor(None, find_damage, self.storage.log)

        def done(f: asyncio.Future[int | None]) -> None:
            self._scrubbing = False
            if f.cancelled():
                return
            error = f.exception()
            if error is not None:
                _log.error("%s: cannot scrub the log: %s", self.name, error)
                return
            damaged = f.result()
            if damaged is not None:
                self.repair(damaged)

        future.add_done_callback(done)

    def repair(self, offset: int) -> None:
        """The batch at ``offset`` is damaged: stop the group, cut the log there (losing
        what this replica had acknowledged from there on), and start again as a replica
        that lost data -- it abstains from elections until its leader has re-sent
        everything committed (docs/replication.md "A follower that lost ...")."""
        partition = self.partition
        if partition is None or self.group is None:
            return
        log = self.storage.log
        _log.error("%s: damaged batch at offset %d; cutting the log there to get it again "
                   "from the leader", self.name, offset)  # fmt: skip
        self.stop()
        try:
            log.truncate_to(max(offset, log.log_start_offset))
        except LogdError as exc:
            # Damage the cut cannot step over: empty the log instead (the leader sends it
            # all again, or a snapshot). Never leave the replica stopped: it would stay out
            # of the ISR for good.
            _log.error("%s: cannot cut the damaged log (%s); emptying it", self.name, exc)
            try:
                log.truncate_to(log.log_start_offset)
            except LogdError as again:
                _log.error("%s: cannot empty the damaged log: %s", self.name, again)
                return
        self.restart(log, lost_data=True)

    def restart(self, log: Log, *, lost_data: bool) -> None:
        """Start the group again over ``log`` (the same log cut, or a reopened one):
        ``lost_data`` -- it abstains from elections until its leader re-sent everything
        committed (docs/replication.md "A follower that lost ..."). A lone replica has
        nobody to wait for and leads again at once."""
        partition = self.partition
        if partition is None:
            return
        self.stop()
        if log is not self.storage.log:
            partition.reopened(log)
        storage = PartitionLog(
            log, self.storage.state_file, self._clock, initial_conf=self._initial_conf
        )
        storage.lost_data = storage.lost_data or lost_data
        self.storage = storage
        self.isr.reset(False)
        partition.rebuild_producer_state()
        alone = set(self._initial_conf.voters) == {self.driver.node_id}
        self.start(partition, campaign=alone)
