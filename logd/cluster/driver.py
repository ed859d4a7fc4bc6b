"""Every Raft group of this broker on one asyncio loop (etcd's ``node.go`` loop, for many
groups at once): ticks, messages in, Readys carried out in the order ``ready.py`` gives.

One *pass* (scheduled with ``call_soon`` whenever something happened: a message, a tick, a
proposal) takes a Ready from every group that has one -- also while earlier Readys of the
group are being persisted, when the core lets the new one overlap them (asynchronous
storage writes, ``Config.async_writes``, etcd's design; the broker's ``raft.async.writes``,
off by default: ``DriverSettings``)
-- and for each:

1. notes leadership changes (the group's listener hears them before anything else);
2. queues ``messages`` -- they leave at the end of the pass, while the disk works (thesis
   §10.2.1: a leader's appends go out in parallel with its own write);
3. writes snapshot / truncation / entries to the log and stages the side file (page cache
   only; ``PartitionLog.write``);
4. if the Ready must be durable, adds the group to this pass's fsync round (under the
   broker's ``--fsync interval``/``never`` a Ready's log entries count as durable once
   written -- the page cache -- and only hard state, snapshots, truncations and the
   metadata log are fsynced: ``ready_writer.py``).

Then the pass hands its messages to the transport and starts one fsync round for every
file written (``ready_writer.py``: group commit across groups, one journal fsync for every
term and vote). When a group's files are durable -- and only then -- its
``messages_after_persist`` leave (votes, acknowledgements: nothing is promised before it
is on disk), committed entries are applied (controller) or the commit offset
published (partitions: the high watermark), and ``advance()`` is called. A group's Readys
are finished strictly in the order they were taken, each once it *and every one before it*
is durable (``RaftGroup.take_durable``): ``advance()`` is the storage's word that a Ready's
entries are on disk, so a record written while the previous fsync runs starts its own at
once (the flusher's next round) instead of waiting for that round, a pass and a write, and
a follower acknowledges each append as its own fsync completes. A Ready that needs no
fsync (only the commit moved) is finished in the pass itself (after those before it). One
exception: a leader
whose commit moves on a follower's acknowledgement while its own Ready is in flight
publishes it at once (``_publish_early``): a quorum holds those entries durably already.

Quiet groups (``replication/quiesce.py``): a group whose leader found nothing left to
replicate stops ticking, and the tick task then touches only the *awake* groups -- an idle
broker with thousands of partitions does no per-partition work at all. Quiet followers do
not time out; they learn that a peer is down from :meth:`RaftDriver.set_down` (the
controller's per-broker liveness) and :meth:`RaftDriver.report_unreachable` (lost
connections), which reach only the groups that peer is a member of.

A replica whose log lost data it had acknowledged (recovery cut a torn or corrupted tail,
or the log ends below the commit offset it persisted) must not vote: its shorter log could
let a candidate that lacks a committed entry win, and the entry it acknowledged would be
lost (Raft's safety assumes acknowledged entries stay on disk). Such a group *abstains*
-- it neither grants nor asks for votes -- until a leader has brought its log up to that
leader's commit offset; then every committed entry is back and it votes again.

Writes that fail or are held back below the disk's free-space reserve are retried with
backoff; a failed fsync stops the group (``ready_writer.py``, issue 24). Unknown
groups' messages (a peer created the group first) wait a little in a bounded buffer
(:data:`PENDING_MAX_PER_GROUP`).

The driver's parts: ``group.py`` (a group, its listener, the transport), ``peer_news.py``
(which peers are taken as down, told to the groups it concerns; with ``down_peers.py`` and
``silence.py``), ``ready_writer.py`` (writes, retries, fsync rounds).

Ownership: owned by the broker's event loop; never awaits inside a core call. The Flusher
answers from its thread through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Final

from logd.cluster.codec import GroupMessage
from logd.cluster.group import GroupListener, RaftGroup, Transport
from logd.cluster.partition_log import PartitionLog
from logd.cluster.peer_news import PeerNews
from logd.cluster.ready_writer import ReadyWriter
from logd.cluster.settings import DriverSettings
from logd.cluster.silence import ReadClock
from logd.errors import LogdError
from logd.storage import Flusher
from replication import (
    AppendRequest,
    Config,
    Message,
    RaftError,
    RawNode,
    Ready,
    Role,
    VoteRequest,
    VoteResponse,
)

# GroupListener, RaftGroup and Transport live in group.py, DriverSettings in settings.py;
# named here too, where their users have always found them.
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
#: A new group's other replicas wait this many election timeouts for the preferred one.
FRESH_HOLD_TIMEOUTS: Final = 4
#: Groups ticked per loop turn (the tick task yields in between), and taken per pass.
TICK_BATCH: Final = 500
PASS_BATCH: Final = 500
#: How often the driver logs how many groups are awake (when that changed).
ACTIVITY_LOG_S: Final = 10.0


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
        self._seed = seed if seed is not None else time.monotonic_ns() ^ (node_id << 32)
        self._loop = asyncio.get_running_loop()
        #: The loop every group lives on (retention hops here from its thread).
        self.loop = self._loop
        self.groups: dict[str, RaftGroup] = {}
        self.transport: Transport | None = None
        #: The groups that tick: every group but the quiet ones (insertion-ordered).
        self._awake: dict[RaftGroup, None] = {}
        #: Groups that went quiet since :meth:`take_active` was last called.
        self._quieted: set[RaftGroup] = set()
        #: Groups that lost acknowledged data and wait for their leader's commit.
        self._abstaining: set[RaftGroup] = set()
        self._dirty: set[RaftGroup] = set()
        #: The peers taken as down (declared by the controller's liveness, or that the
        #: transport cannot reach) and the groups of each peer (``peer_news.py``).
        self.news = PeerNews(
            node_id,
            self.settings.unreachable_suspect_s,
            self.settings.alive_s,
            self._mark,
            self._loop.time,
        )
        self.writer = ReadyWriter(
            self._loop,
            flusher,
            space_full or (lambda: False),
            finish=self._finish,
            flush=self._flush_outgoing,
            index_peers=self.news.index,
        )
        self._scheduled = False
        self._outgoing: dict[int, list[GroupMessage]] = collections.defaultdict(list)
        self._pending: dict[str, tuple[float, list[Message]]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        #: Figures for the admin listener (read at scrape, issue 20): times a group hosted
        #: here stood for election (became a candidate), and times one saw a new leader.
        self.elections = 0
        self.leadership_changes = 0
        #: Quiet groups woken, and unreachable reports taken (metrics; logged).
        self.wakes = 0
        #: Messages that reached quiet groups, by kind (a quiet group woken for nothing
        #: again and again is a bug worth seeing in the log).
        self.woken_by: collections.Counter[str] = collections.Counter()
        self._logged: tuple[int, int, int] = (0, 0, 0)
        self._next_log = 0.0

    @property
    def down(self) -> frozenset[int]:
        """The peers taken as down (``down_peers.py``)."""
        return self.news.down

    @property
    def read_clock(self) -> ReadClock:
        """The time peers' silence is judged in (``silence.py``)."""
        return self.news.read_clock

    @read_clock.setter
    def read_clock(self, clock: ReadClock) -> None:
        self.news.read_clock = clock

    @property
    def unreachable_reports(self) -> int:
        return self.news.unreachable_reports

    def take_active(self) -> list[RaftGroup]:
        """The groups awake now or gone quiet since the last call: a quiet group's state
        changes only when it wakes, so what the caller (the broker heartbeat) sampled of
        every other group is still true -- an idle broker samples none (issue 21)."""
        active = [*self._awake, *self._quieted]
        self._quieted = set()
        return active

    def alive(self) -> frozenset[int]:
        """The peers heard from and not silent (``PeerNews.alive``)."""
        return self.news.alive()

    # -- groups -----------------------------------------------------------------------

    def config(
        self,
        *,
        apply_entries: bool,
        applied: int | None = None,
        quiesce: bool = True,
        salt: int = 0,
    ) -> Config:
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
            quiesce=s.quiesce and quiesce,
            group_salt=salt,
            vote_wait=s.vote_wait,
            async_writes=s.async_writes,
            vouched_lease=s.vouched_lease,
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
        quiesce: bool = True,
        hold: bool = False,
    ) -> RaftGroup:
        """Start a group over ``storage``. ``campaign``: stand for election at once (the
        preferred replica of a new partition; the only voter of a one-node group).
        ``exempt``: writes even below the free-space reserve (the metadata log).
        ``quiesce``: the group may go quiet when idle -- not the controller's, whose
        liveness is what wakes the others. ``hold``: a new group whose preferred replica
        campaigns elsewhere: do not time out for :data:`FRESH_HOLD_TIMEOUTS` election
        timeouts, so that thousands of new groups do not all split their first votes."""
        assert name not in self.groups, f"group {name} exists"
        config = self.config(
            apply_entries=apply_entries,
            applied=applied,
            quiesce=quiesce,
            salt=zlib.crc32(name.encode()),  # alike on every replica of the group
        )
        node = RawNode(config, storage)
        group = RaftGroup(name, node, storage, listener)
        group.exempt = exempt
        self.groups[name] = group
        self.news.index(group)
        if group.abstaining:
            self._abstaining.add(group)
        if self.down:
            node.set_down_peers(self.down)
        if campaign:
            node.campaign()
        elif hold:
            node.hold_election(FRESH_HOLD_TIMEOUTS * self.settings.election_ticks)
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
            self._awake.pop(group, None)
            self._abstaining.discard(group)
            self.writer.retrying.discard(group)
            self.news.unindex(group)

    # -- inputs -----------------------------------------------------------------------

    def receive(self, messages: Sequence[GroupMessage]) -> None:
        """Messages from a peer (the transport calls this on the loop)."""
        now = self._loop.time()
        if messages:
            self.news.heard.add(messages[0][1].src)  # one frame, one peer
        for name, m in messages:
            group = self.groups.get(name)
            if group is None:
                self._hold(name, m, now)
                continue
            if group.node.quiesced:
                self.woken_by[type(m).__name__] += 1
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
        if node.role is not Role.LEADER or not group.flight:
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
            self._abstaining.discard(group)
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

    def report_unreachable(
        self, peer: int, *, connected: bool = False, slow: bool = False, why: str = ""
    ) -> None:
        """The transport lost ``peer`` (``PeerNews.report_unreachable``)."""
        self.news.report_unreachable(peer, connected=connected, slow=slow, why=why)

    def peer_reachable(self, peer: int) -> None:
        """A write to ``peer`` went through again (or it connected): no longer suspected."""
        self.news.reachable(peer)

    def set_down(self, down: frozenset[int]) -> None:
        """The controller's liveness changed (``PeerNews.declare``)."""
        self.news.declare(down)

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
        news = self.news
        while True:
            news.wait(next_at)
            await asyncio.sleep(max(0.0, next_at - self._loop.time()))
            news.woke()
            next_at += interval
            if next_at < self._loop.time():  # the loop stalled: do not tick in a burst
                next_at = self._loop.time() + interval
            groups = list(self._awake)
            heard = news.take_heard()
            vouched = news.vouched(heard)
            for start in range(0, len(groups), TICK_BATCH):
                if start:
                    # Thousands of awake groups (elections after a broker died): let
                    # frames, heartbeats to the controller and requests in between.
                    news.wait(self._loop.time())
                    await asyncio.sleep(0)
                    news.woke()
                self.tick(groups[start : start + TICK_BATCH], vouched)
            news.tick(heard)
            self._log_activity()

    def tick(
        self, groups: Sequence[RaftGroup] | None = None, heard: frozenset[int] | None = None
    ) -> None:
        """Tick the awake groups (or those of ``groups`` still awake); forget those that
        went quiet (their ticks do nothing until an input wakes them, and ``_mark`` puts
        them back then). Only a group whose tick did something is looked at again."""
        awake = self._awake
        dirty = self._dirty
        quiet = []
        if heard is None:
            heard = self.news.vouched(self.news.take_heard())
        for group in list(awake) if groups is None else groups:
            if group not in awake:
                continue  # went quiet or was removed while the tick yielded
            node = group.node
            if node.role is not Role.LEADER:
                node.heard_from(heard)  # a follower's lease: its leader's broker is alive
            elif heard:
                node.heard_from(heard & group.peers)  # check-quorum: its brokers are alive
            if node.tick():
                dirty.add(group)
            if node.quiesced:
                quiet.append(group)
        for group in quiet:
            del awake[group]
        self._quieted.update(quiet)
        self.writer.retry_due()
        self._schedule()
        if self._pending:
            now = self._loop.time()
            for name in [n for n, (t, _) in self._pending.items() if now - t > PENDING_TTL_S]:
                del self._pending[name]

    def _log_activity(self) -> None:
        """Every so often, how many groups are awake and what woke them (an idle broker
        should have almost none: quiesce.py)."""
        now = (len(self._awake), self.wakes, self.unreachable_reports)
        if now == self._logged or self._loop.time() < self._next_log:
            return
        self._next_log = self._loop.time() + ACTIVITY_LOG_S
        _log.info("raft groups: %d of %d awake; %d woken, %d unreachable reports since; "
                  "messages to quiet groups: %s", now[0], len(self.groups),
                  now[1] - self._logged[1], now[2] - self._logged[2],
                  dict(self.woken_by.most_common(4)))  # fmt: skip
        self.woken_by.clear()
        self._logged = now

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
        """Something happened to ``group``: run a pass, and tick it while it is awake."""
        self._dirty.add(group)
        if not group.node.quiesced and not group.closed and group not in self._awake:
            self._awake[group] = None
            self.wakes += 1
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and not self._closed:
            self._scheduled = True
            self._loop.call_soon(self._pass)

    def _pass(self) -> None:
        self._scheduled = False
        dirty = self._dirty
        if len(dirty) > PASS_BATCH:
            # Thousands of groups with work (elections after a broker died, a huge topic
            # created): the rest go next loop turn, after the frames and heartbeats that
            # arrived meanwhile -- one pass over 6,000 groups held a loaded broker's loop
            # for seconds, and its peers' frames then looked 5 s old (issue 21).
            dirty = {dirty.pop() for _ in range(PASS_BATCH)}
            self._schedule()
        else:
            self._dirty = set()
        to_sync: list[tuple[RaftGroup, Ready]] = []
        for group in dirty:
            if group.closed or group.failed:
                continue
            try:
                self._take_ready(group, to_sync)
            except Exception as exc:
                # A bug met in one group (an assertion of the storage, say) must not lose
                # the Readys the pass took for the others: uncaught, it left every one of
                # them in flight for ever -- the controller's group stood still on all
                # three brokers at 10,000 partitions (issue 21). This group stops, as on
                # an unreadable log; its owner hears of it.
                _log.exception("%s: unexpected error in the Raft pass; the replica stops",
                               group.name)  # fmt: skip
                group.failed = True
                group.listener.on_storage_error(
                    LogdError(f"{group.name}: unexpected error in the Raft pass: {exc!r}")
                )
        if to_sync:
            self.writer.sync(to_sync)
        self._flush_outgoing()

    def _take_ready(self, group: RaftGroup, to_sync: list[tuple[RaftGroup, Ready]]) -> None:
        """One group's part of a pass: take its Ready, write it, and either finish it or
        add it to ``to_sync`` (the fsyncs the pass requests together)."""
        if group.flight and (group.unwritten or not group.node.has_ready()):
            # Its writes are on their way to disk (and the next Ready may not overlap
            # them); what may leave without waiting for them (heartbeats and their
            # answers, pre-votes) leaves now: a slow fsync round must not silence a
            # leader or its followers (issue 21).
            self._queue(group, group.node.take_messages())
            return
        if not group.flight and not group.node.has_ready():
            return
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
            return
        if not self._begin(group, rd):
            return
        group.hold(rd)
        if rd.must_sync:
            to_sync.append((group, rd))
        else:
            self.writer.durable(group, rd)

    def _begin(self, group: RaftGroup, rd: Ready) -> bool:
        """Steps 1-3 of a Ready; False if it is not written (yet): see the module doc."""
        node = group.node
        now = (node.leader, node.term, node.role)
        if now != group.announced:
            self._count_leadership(group, now)
            group.announced = now
            group.listener.on_leadership(*now)
        self._queue(group, rd.messages)
        return self.writer.write(group, rd, retry=False)

    def _count_leadership(self, group: RaftGroup, now: tuple[int | None, int, Role]) -> None:
        before = group.announced
        leader, term, role = now
        if role is Role.CANDIDATE and (before is None or before[2] is not Role.CANDIDATE
                                       or before[1] != term):  # fmt: skip
            self.elections += 1
        if leader is not None and (before is None or before[0] != leader):
            self.leadership_changes += 1

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
        for group in self._abstaining:
            leader = group.node.leader
            if group.abstaining and leader is not None and leader in outgoing:
                losses.setdefault(leader, []).append((group.name, group.node.last_offset))
        if self.transport is not None:
            self.transport.send(dict(outgoing), losses)
