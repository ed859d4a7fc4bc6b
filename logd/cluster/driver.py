"""Every Raft group of this broker on one asyncio loop (etcd's ``node.go`` loop, for many
groups at once): ticks, messages in, Readys carried out in the order ``ready.py`` gives.

One *pass* (scheduled with ``call_soon`` whenever something happened: a message, a tick, a
proposal) takes a Ready from every group that has one and no Ready in flight, and for each:

1. notes leadership changes (the group's listener hears them before anything else);
2. queues ``messages`` -- they leave at the end of the pass, while the disk works (thesis
   §10.2.1: a leader's appends go out in parallel with its own write);
3. writes snapshot / truncation / entries to the log and stages the side file (page cache
   only; ``PartitionLog.write``);
4. if the Ready must be durable, adds the group to this pass's fsync round.

Then the pass hands its messages to the transport and, in one go, asks the storage Flusher
to fsync every log and side file written (group commit across groups: one request per file,
however many Readys and proposals it covers). When the round is durable -- and only then --
each group's ``messages_after_persist`` leave (votes, acknowledgements: nothing is promised
before it is on disk), committed entries are applied (controller) or the commit offset
published (partitions: the high watermark), and ``advance()`` is called. A Ready that needs
no fsync (only the commit moved) is finished in the pass itself. One exception: a leader
whose commit moves on a follower's acknowledgement while its own Ready is in flight
publishes it at once (``_publish_early``): a quorum holds those entries durably already.

A replica whose log lost data it had acknowledged (recovery cut a torn or corrupted tail,
or the log ends below the commit offset it persisted) must not vote: its shorter log could
let a candidate that lacks a committed entry win, and the entry it acknowledged would be
lost (Raft's safety assumes acknowledged entries stay on disk). Such a group *abstains*
-- it neither grants nor asks for votes -- until a leader has brought its log up to that
leader's commit offset; then every committed entry is back and it votes again.

Failures (issue 24). A write that fails and was undone by the log (a full disk: the log
cuts off what it wrote in part and stays online) keeps the Ready in flight *unwritten* and is
tried again -- after :data:`WRITE_RETRY_MIN_S`, doubling up to :data:`WRITE_RETRY_MAX_S` --
like a replica with a very slow disk: it acknowledges nothing it has not persisted, said once
per episode in the log, no traceback. A retry skips the entries the failed attempt did
write. While the broker's disk is below its free-space reserve (``space_full``), a
follower's Ready holding data entries is *held back* the same way (the reserve is for the
metadata log, Raft's own entries, checkpoints and recovery), so a full follower drops out
of the quorum instead of filling its disk; the controller's group is exempt. A failed fsync,
or a write that could not be undone, takes the log offline (storage's rule: no retry after a
failed fsync): the group stops for good and its listener hears ``on_storage_error`` (the
partition's replica reopens the log and rejoins as a replica that lost data). Unknown
groups' messages (a peer created the group first) wait a little in a bounded buffer
(:data:`PENDING_MAX_PER_GROUP`).

Ownership: owned by the broker's event loop; never awaits inside a core call. The Flusher
answers from its thread through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from logd.cluster.codec import GroupMessage
from logd.cluster.partition_log import PartitionLog
from logd.errors import KafkaStorageError, LogdError
from logd.storage import Flusher
from replication import (
    AppendRequest,
    Config,
    Entry,
    EntryKind,
    Message,
    RaftError,
    RawNode,
    Ready,
    Role,
    Snapshot,
    VoteRequest,
    VoteResponse,
)

__all__ = [
    "PENDING_MAX_PER_GROUP",
    "DriverSettings",
    "GroupListener",
    "RaftDriver",
    "RaftGroup",
    "Transport",
]

_log = logging.getLogger(__name__)

#: Messages kept for a group this broker does not host yet, and for how long.
PENDING_MAX_PER_GROUP: Final = 64
PENDING_TTL_S: Final = 5.0
#: A Ready whose write failed (or is held back) is tried again after this, doubling.
WRITE_RETRY_MIN_S: Final = 0.05
WRITE_RETRY_MAX_S: Final = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class DriverSettings:
    """Timing of every group (``raft.*`` broker keys)."""

    tick_ms: int = 50
    election_ticks: int = 15  # follower timeout 0.75-1.5 s at 50 ms ticks
    heartbeat_ticks: int = 3  # 150 ms
    max_append_bytes: int = 1 << 20
    max_inflight_appends: int = 64


class GroupListener(Protocol):
    """What a group's owner hears (on the loop, synchronously)."""

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None: ...

    def on_commit(self, commit: int) -> None: ...

    def on_apply(self, entries: Sequence[Entry]) -> None: ...

    def on_snapshot(self, snapshot: Snapshot) -> None: ...

    def on_storage_error(self, error: LogdError) -> None:
        """Reading the group's log failed (a damaged batch): the group has stopped."""
        ...


class Transport(Protocol):
    """Carries frames between brokers (``transport.GrpcTransport``, or a test's).
    ``losses`` names, per peer, the groups it leads in which we lost acknowledged entries."""

    def send(
        self,
        outgoing: dict[int, list[GroupMessage]],
        losses: dict[int, list[tuple[str, int]]],
    ) -> None: ...


class RaftGroup:
    """One group on this broker: its node, storage and listener. Owned by the driver."""

    __slots__ = (
        "abstaining",
        "announced",
        "closed",
        "exempt",
        "failed",
        "inflight",
        "leader_commit",
        "listener",
        "name",
        "node",
        "published",
        "retry_at",
        "retry_s",
        "storage",
        "unwritten",
        "write_error",
    )

    def __init__(
        self, name: str, node: RawNode, storage: PartitionLog, listener: GroupListener
    ) -> None:
        self.name = name
        self.node = node
        self.storage = storage
        self.listener = listener
        self.inflight: Ready | None = None
        self.announced: tuple[int | None, int, Role] | None = None
        self.closed = False
        self.failed = False
        #: Lost acknowledged data: no votes until caught up with a leader's commit.
        self.abstaining = storage.lost_data
        self.leader_commit = -1
        #: The commit offset the listener last heard.
        self.published = -1
        #: The Ready in flight is not written yet (its write failed, or is held back).
        self.unwritten = False
        self.retry_at = 0.0
        self.retry_s = WRITE_RETRY_MIN_S
        #: Why the last write failed (said once per episode); None while writes succeed.
        self.write_error: str | None = None
        #: May write into the free-space reserve (the controller's metadata log).
        self.exempt = False


class RaftDriver:
    """The groups of one broker; see the module docstring."""

    def __init__(
        self,
        node_id: int,
        flusher: Flusher,
        settings: DriverSettings | None = None,
        *,
        seed: int | None = None,
        space_full: Callable[[], bool] | None = None,
    ) -> None:
        self.node_id = node_id
        self.settings = settings or DriverSettings()
        #: Whether the disk is below its free-space reserve (followers hold back data).
        self._space_full = space_full or (lambda: False)
        self._flusher = flusher
        self._seed = seed if seed is not None else time.monotonic_ns() ^ (node_id << 32)
        self._loop = asyncio.get_running_loop()
        #: The loop every group lives on (retention hops here from its thread).
        self.loop = self._loop
        self.groups: dict[str, RaftGroup] = {}
        self.transport: Transport | None = None
        self._dirty: set[RaftGroup] = set()
        self._scheduled = False
        self._outgoing: dict[int, list[GroupMessage]] = collections.defaultdict(list)
        self._pending: dict[str, tuple[float, list[Message]]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        #: Completed fsync rounds (tests and metrics).
        self.sync_rounds = 0

    # -- groups -----------------------------------------------------------------------

    def config(self, *, apply_entries: bool, applied: int | None = None) -> Config:
        s = self.settings
        self._seed += 1
        return Config(
            node_id=self.node_id,
            election_ticks=s.election_ticks,
            heartbeat_ticks=s.heartbeat_ticks,
            seed=self._seed & 0xFFFFFFFF,
            max_append_bytes=s.max_append_bytes,
            max_inflight_appends=s.max_inflight_appends,
            apply_entries=apply_entries,
            applied=applied,
        )

    def add_group(
        self,
        name: str,
        storage: PartitionLog,
        listener: GroupListener,
        *,
        apply_entries: bool = False,
        applied: int | None = None,
        campaign: bool = False,
        exempt: bool = False,
    ) -> RaftGroup:
        """Start a group over ``storage``. ``campaign``: stand for election at once (the
        preferred replica of a new partition; the only voter of a one-node group).
        ``exempt``: writes even below the free-space reserve (the metadata log)."""
        assert name not in self.groups, f"group {name} exists"
        node = RawNode(self.config(apply_entries=apply_entries, applied=applied), storage)
        group = RaftGroup(name, node, storage, listener)
        group.exempt = exempt
        self.groups[name] = group
        if campaign:
            node.campaign()
        pending = self._pending.pop(name, None)
        if pending is not None:
            for m in pending[1]:
                self._step(group, m)
        self._mark(group)
        return group

    def remove_group(self, name: str) -> None:
        """Stop a group (its partition is unhosted); a Ready in flight is abandoned."""
        group = self.groups.pop(name, None)
        if group is not None:
            group.closed = True
            self._dirty.discard(group)

    # -- inputs -----------------------------------------------------------------------

    def receive(self, messages: Sequence[GroupMessage]) -> None:
        """Messages from a peer (the transport calls this on the loop)."""
        now = self._loop.time()
        for name, m in messages:
            group = self.groups.get(name)
            if group is None:
                self._hold(name, m, now)
                continue
            self._step(group, m)
            self._mark(group)
            if group.node.commit > group.published:
                self._publish_early(group)

    def _publish_early(self, group: RaftGroup) -> None:
        """A leader's commit moved on a follower's acknowledgement: tell the listener now,
        even while the group's own Ready is in flight (its fsync not done yet). The commit
        offset only counts entries a quorum has made durable, so publishing it does not
        wait for *this* replica's fsync (Kafka's leader likewise raises its high watermark
        on its followers' fetches, whatever its own flush). Without this the high watermark
        -- and every acks=all answer and waiting fetch -- waited for the leader's fsync
        round and one more pass. Only once the listener knows it leads in this term (the
        order ``_begin`` keeps); a follower's commit waits for its own write as before."""
        node = group.node
        if node.role is not Role.LEADER or group.inflight is None:
            return
        if group.closed or group.failed:
            return
        if group.announced != (node.leader, node.term, node.role):
            return
        group.published = node.commit
        group.listener.on_commit(node.commit)

    def _hold(self, name: str, m: Message, now: float) -> None:
        held = self._pending.get(name)
        if held is None or now - held[0] > PENDING_TTL_S:
            held = self._pending[name] = (now, [])
        if len(held[1]) < PENDING_MAX_PER_GROUP:
            held[1].append(m)

    def _step(self, group: RaftGroup, m: Message) -> None:
        if group.abstaining:
            if isinstance(m, VoteRequest):
                return
            if isinstance(m, AppendRequest) and m.term >= group.node.term:
                group.leader_commit = max(group.leader_commit, m.commit)
        try:
            group.node.step(m)
        except RaftError as exc:
            _log.warning("%s: dropped a message from %d: %s", group.name, m.src, exc)
            return
        if group.abstaining and 0 <= group.leader_commit <= group.node.last_offset:
            group.abstaining = False
            _log.info("%s: caught up with the leader's commit; voting again", group.name)

    def propose(self, group: RaftGroup, data: bytes | bytearray | memoryview, count: int) -> Any:
        """``node.propose`` and schedule the pass that writes and sends it."""
        entry = group.node.propose(data, count)
        self._mark(group)
        return entry

    def touched(self, group: RaftGroup) -> None:
        """The owner called into the node directly (transfer, campaign): run a pass."""
        self._mark(group)

    def data_loss(self, peer: int, losses: Sequence[tuple[str, int]]) -> None:
        """``peer`` lost acknowledged entries of these groups (transport side channel)."""
        for name, last_offset in losses:
            group = self.groups.get(name)
            if group is not None and group.node.role is Role.LEADER:
                group.node.report_data_loss(peer, last_offset)
                self._mark(group)

    def report_unreachable(self, peer: int) -> None:
        for group in self.groups.values():
            if group.node.role is Role.LEADER:
                group.node.report_unreachable(peer)

    def report_snapshot(self, name: str, peer: int, *, success: bool) -> None:
        group = self.groups.get(name)
        if group is not None:
            group.node.report_snapshot(peer, success=success)
            self._mark(group)

    # -- time -------------------------------------------------------------------------

    def start(self) -> None:
        if self._ticker is None:
            self._ticker = self._loop.create_task(self._tick_forever(), name="raft-ticker")

    async def _tick_forever(self) -> None:
        interval = self.settings.tick_ms / 1000.0
        next_at = self._loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - self._loop.time()))
            next_at += interval
            if next_at < self._loop.time():  # the loop stalled: do not tick in a burst
                next_at = self._loop.time() + interval
            self.tick()

    def tick(self) -> None:
        now = self._loop.time()
        retry: list[RaftGroup] = []
        for group in self.groups.values():
            group.node.tick()
            self._dirty.add(group)
            if group.unwritten and now >= group.retry_at:
                retry.append(group)
        for group in retry:
            self._retry_write(group)
        self._schedule()
        if self._pending:
            now = self._loop.time()
            for name in [n for n, (t, _) in self._pending.items() if now - t > PENDING_TTL_S]:
                del self._pending[name]

    async def close(self) -> None:
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for name in list(self.groups):
            self.remove_group(name)

    # -- the pass ---------------------------------------------------------------------

    def _mark(self, group: RaftGroup) -> None:
        self._dirty.add(group)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and not self._closed:
            self._scheduled = True
            self._loop.call_soon(self._pass)

    def _pass(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        to_sync: list[tuple[RaftGroup, Ready]] = []
        for group in dirty:
            if group.closed or group.failed or group.inflight is not None:
                continue
            if not group.node.has_ready():
                continue
            try:
                rd = group.node.ready()
            except LogdError as exc:
                # The core read the log (a leader sending old entries) and met damage the
                # storage refuses to serve. The node is unusable now: stop it and let its
                # owner repair the log (truncate at the damage, rejoin as a lost-data
                # replica: see the module doc).
                _log.error("%s: cannot read the Raft log (%s); the replica stops", group.name, exc)
                group.failed = True
                group.listener.on_storage_error(exc)
                continue
            if not self._begin(group, rd):
                continue
            if rd.must_sync:
                group.inflight = rd
                to_sync.append((group, rd))
            else:
                self._finish(group, rd)
        if to_sync:
            self._sync(to_sync)
        self._flush_outgoing()

    def _begin(self, group: RaftGroup, rd: Ready) -> bool:
        """Steps 1-3 of a Ready; False if it is not written (yet): see the module doc."""
        node = group.node
        now = (node.leader, node.term, node.role)
        if now != group.announced:
            group.announced = now
            group.listener.on_leadership(*now)
        self._queue(group, rd.messages)
        return self._write(group, rd, retry=False)

    def _write(self, group: RaftGroup, rd: Ready, *, retry: bool) -> bool:
        """Step 3: the Ready's writes. False when held back, failed and to be retried (the
        Ready stays in flight, unwritten), or failed for good (the log is offline)."""
        if self._holds_back(group, rd):
            self._write_later(group, rd, "the disk is below its free-space reserve")
            return False
        try:
            group.storage.write(rd, retry=retry)
        except LogdError as exc:
            if group.storage.log.offline_reason is None:
                self._write_later(group, rd, str(exc))
                return False
            _log.error("%s: cannot write the Raft log (%s); the log is offline and the "
                       "replica stops until it is reopened", group.name, exc)  # fmt: skip
            group.failed = True
            group.inflight = rd
            group.unwritten = False
            group.listener.on_storage_error(exc)
            return False
        if group.write_error is not None:
            _log.info("%s: the Raft log is written again", group.name)
        group.unwritten, group.write_error, group.retry_s = False, None, WRITE_RETRY_MIN_S
        return True

    def _holds_back(self, group: RaftGroup, rd: Ready) -> bool:
        """A follower's data entries while the disk is below its reserve (module doc);
        Raft's own entries (a new leader's, a configuration) still go into the reserve, so
        a cluster whose disks are all full can still elect and commit them."""
        if group.exempt or group.node.role is Role.LEADER:
            return False
        if not any(e.kind is EntryKind.NORMAL for e in rd.entries):
            return False
        return self._space_full()

    def _write_later(self, group: RaftGroup, rd: Ready, why: str) -> None:
        group.inflight = rd
        if not group.unwritten or group.write_error != why:
            _log.warning("%s: the Raft log is not written (%s); trying again every %.0f ms "
                         "at most", group.name, why, WRITE_RETRY_MAX_S * 1000)  # fmt: skip
        group.unwritten, group.write_error = True, why
        group.retry_at = self._loop.time() + group.retry_s
        group.retry_s = min(group.retry_s * 2, WRITE_RETRY_MAX_S)

    def _retry_write(self, group: RaftGroup) -> None:
        rd = group.inflight
        if rd is None or group.closed or group.failed or not self._write(group, rd, retry=True):
            return
        if rd.must_sync:
            self._sync([(group, rd)])
        else:
            group.inflight = None
            self._finish(group, rd)

    def _sync(self, batch: list[tuple[RaftGroup, Ready]]) -> None:
        """One fsync round for every file this pass wrote; finish the batch after it."""
        futures: list[tuple[RaftGroup, concurrent.futures.Future[int]]] = []
        for group, _ in batch:
            if group.storage.state_file.dirty:
                futures.append((group, self._flusher.request(group.storage.state_file)))
            futures.append((group, self._flusher.request(group.storage.log)))
        remaining = [len(futures)]
        errors: dict[str, BaseException] = {}

        def done(group: RaftGroup, future: concurrent.futures.Future[int]) -> None:
            exc = future.exception()
            if exc is not None:
                errors.setdefault(group.name, exc)
            remaining[0] -= 1
            if remaining[0] == 0:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    self._loop.call_soon_threadsafe(self._synced, batch, errors)

        for group, future in futures:
            future.add_done_callback(functools.partial(done, group))

    def _synced(
        self, batch: list[tuple[RaftGroup, Ready]], errors: dict[str, BaseException]
    ) -> None:
        self.sync_rounds += 1
        for group, rd in batch:
            if group.closed or group.inflight is not rd:
                continue
            log = group.storage.log
            error = errors.get(group.name)
            if error is not None and log.offline_reason is None:
                # The side file failed (its old content is intact) and the log did not:
                # persist the Ready again later; nothing it promises leaves before.
                self._write_later(group, rd, str(error))
                continue
            if log.offline_reason is not None:
                _log.error("%s: fsync failed (%s); the log is offline and the replica stops "
                           "until it is reopened", group.name, log.offline_reason)  # fmt: skip
                group.failed = True
                group.listener.on_storage_error(KafkaStorageError(log.offline_reason))
                continue
            group.inflight = None
            self._finish(group, rd)
        self._flush_outgoing()

    def _finish(self, group: RaftGroup, rd: Ready) -> None:
        """Steps 6-8: everything in ``rd`` is durable."""
        self._queue(group, rd.messages_after_persist)
        listener = group.listener
        if rd.snapshot is not None and rd.snapshot.data:
            listener.on_snapshot(rd.snapshot)
        if rd.committed_entries:
            listener.on_apply(rd.committed_entries)
        node = group.node
        node.advance(rd)
        # A leader counts itself once its write is durable: the commit may have moved in
        # advance(); publish it now rather than one pass later.
        group.published = node.commit
        listener.on_commit(node.commit)
        if node.has_ready():
            self._mark(group)

    def _queue(self, group: RaftGroup, messages: Sequence[Message]) -> None:
        abstaining = group.abstaining
        for m in messages:
            if abstaining and isinstance(m, VoteRequest | VoteResponse):
                continue
            self._outgoing[m.dst].append((group.name, m))

    def _flush_outgoing(self) -> None:
        if not self._outgoing:
            return
        outgoing, self._outgoing = self._outgoing, collections.defaultdict(list)
        losses: dict[int, list[tuple[str, int]]] = {}
        for group in self.groups.values():
            leader = group.node.leader
            if group.abstaining and leader is not None and leader in outgoing:
                losses.setdefault(leader, []).append((group.name, group.node.last_offset))
        if self.transport is not None:
            self.transport.send(dict(outgoing), losses)
