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
however many Readys and proposals it covers), and the broker's hard-state journal once for
every group whose term or vote changed (``hardstate.py``: elections of thousands of groups
cost one fsync, not two per group). When the round is durable -- and only then --
each group's ``messages_after_persist`` leave (votes, acknowledgements: nothing is promised
before it is on disk), committed entries are applied (controller) or the commit offset
published (partitions: the high watermark), and ``advance()`` is called. A Ready that needs
no fsync (only the commit moved) is finished in the pass itself. One exception: a leader
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

Failures (issue 24). A write that fails and was undone by the log (a full disk: the log
cuts off what it wrote in part and stays online) keeps the Ready in flight *unwritten* and is
tried again -- after :data:`WRITE_RETRY_MIN_S`, doubling up to :data:`WRITE_RETRY_MAX_S` --
like a replica with a very slow disk: it acknowledges nothing it has not persisted, said once
per episode in the log, no traceback. A retry skips the entries the failed attempt did
write. While the broker's disk is below its free-space reserve (``space_full``), a
follower's Ready holding data entries is *held back* the same way (the reserve is for the
metadata log, Raft's own entries, checkpoints and recovery), so a full follower drops out
of the quorum instead of filling its disk; the controller's group is exempt. A failed write
is told to the listener (``on_write_failed``, once per episode): a partition's leader hands
its leadership over rather than hold the partition while its disk fails. A failed fsync,
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
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from logd.cluster.codec import GroupMessage
from logd.cluster.hardstate import HardStateJournal
from logd.cluster.partition_log import PartitionLog
from logd.cluster.sync_round import SyncRound
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
#: A new group's other replicas wait this many election timeouts for the preferred one.
FRESH_HOLD_TIMEOUTS: Final = 4
#: A peer's groups hear at most once in this long that it is (still) unreachable.
UNREACHABLE_REPEAT_S: Final = 1.0
#: Groups ticked per loop turn (the tick task yields in between).
TICK_BATCH: Final = 500
#: How often the driver logs how many groups are awake (when that changed).
ACTIVITY_LOG_S: Final = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class DriverSettings:
    """Timing of every group (``raft.*`` broker keys)."""

    tick_ms: int = 50
    election_ticks: int = 15  # follower timeout 0.75-1.5 s at 50 ms ticks
    heartbeat_ticks: int = 3  # 150 ms
    max_append_bytes: int = 1 << 20
    max_inflight_appends: int = 64
    #: Idle groups stop ticking (``raft.quiesce``); off, every group ticks for ever.
    quiesce: bool = True
    #: A peer the transport could not reach is taken as down for this long after the last
    #: failed send (unless a write goes through first). Then its groups look again: a
    #: quiet leader sends nothing to a peer it takes as down, so nothing else would tell
    #: it that the peer is back (a restarted broker whose new stream came before the old
    #: one's end; a cut nobody else saw). Longer than the controller's session timeout
    #: (4.5 s; the runtime keeps it past a longer one): a broker that died is declared
    #: down by then, and the expiry changes nothing -- a shorter one woke every group of
    #: the dead broker a second time, in the middle of the elections that replace it.
    unreachable_suspect_s: float = 10.0


class GroupListener(Protocol):
    """What a group's owner hears (on the loop, synchronously)."""

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None: ...

    def on_commit(self, commit: int) -> None: ...

    def on_apply(self, entries: Sequence[Entry]) -> None: ...

    def on_snapshot(self, snapshot: Snapshot) -> None: ...

    def on_storage_error(self, error: LogdError) -> None:
        """Reading the group's log failed (a damaged batch): the group has stopped."""
        ...

    def on_write_failed(self, error: str) -> None:
        """A write of the group's log, side file or journal failed and was undone (EIO,
        ENOSPC ...); the driver tries it again with backoff. Said once per episode."""
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
        "peers",
        "published",
        "retry_at",
        "retry_s",
        "storage",
        "unwritten",
        "write_error",
        "write_failed",
    )

    def __init__(
        self, name: str, node: RawNode, storage: PartitionLog, listener: GroupListener
    ) -> None:
        self.name = name
        self.node = node
        self.storage = storage
        self.listener = listener
        #: The peers this group is indexed under (``RaftDriver._by_peer``).
        self.peers: frozenset[int] = frozenset()
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
        #: The write failed (an I/O error), rather than being held back below the reserve.
        self.write_failed = False
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
        #: The groups that tick: every group but the quiet ones (insertion-ordered).
        self._awake: dict[RaftGroup, None] = {}
        #: peer -> the groups it is a member of (logd's groups never change members).
        self._by_peer: dict[int, set[RaftGroup]] = collections.defaultdict(set)
        #: Groups that lost acknowledged data and wait for their leader's commit.
        self._abstaining: set[RaftGroup] = set()
        #: The peers taken as down: declared by the controller's liveness, or that the
        #: transport cannot reach (since its last report).
        self.down: frozenset[int] = frozenset()
        self._declared_down: frozenset[int] = frozenset()
        #: peer -> when the transport last failed to reach it (loop time).
        self._unreachable: dict[int, float] = {}
        #: peer -> when its groups last heard it was unreachable (loop time).
        self._unreachable_at: dict[int, float] = {}
        self._dirty: set[RaftGroup] = set()
        #: Groups whose Ready in flight is not written yet (failed, or held back).
        self._retrying: set[RaftGroup] = set()
        self._scheduled = False
        self._outgoing: dict[int, list[GroupMessage]] = collections.defaultdict(list)
        self._pending: dict[str, tuple[float, list[Message]]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        #: Completed fsync rounds (tests and metrics).
        self.sync_rounds = 0
        #: Figures for the admin listener (read at scrape, issue 20): times a group hosted
        #: here stood for election (became a candidate), and times one saw a new leader.
        self.elections = 0
        self.leadership_changes = 0
        #: Quiet groups woken, and unreachable reports taken (metrics; logged).
        self.wakes = 0
        #: Messages that reached quiet groups, by kind (a quiet group woken for nothing
        #: again and again is a bug worth seeing in the log).
        self.woken_by: collections.Counter[str] = collections.Counter()
        self.unreachable_reports = 0
        self._logged: tuple[int, int, int] = (0, 0, 0)
        self._next_log = 0.0

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
        self._index_peers(group)
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
            self._retrying.discard(group)
            for peer in group.peers:
                self._by_peer[peer].discard(group)
            group.peers = frozenset()

    def _index_peers(self, group: RaftGroup) -> None:
        """Index ``group`` under the members of its configuration in force: a move
        (issue 23) changes them, and lost contact must reach the new members' groups."""
        peers = group.node.conf.members() - {self.node_id}
        if peers == group.peers:
            return
        for peer in group.peers - peers:
            self._by_peer[peer].discard(group)
        for peer in peers - group.peers:
            self._by_peer[peer].add(group)
        group.peers = frozenset(peers)

    # -- inputs -----------------------------------------------------------------------

    def receive(self, messages: Sequence[GroupMessage]) -> None:
        """Messages from a peer (the transport calls this on the loop)."""
        now = self._loop.time()
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

    def report_unreachable(self, peer: int, *, connected: bool = False) -> None:
        """The transport lost ``peer`` (``connected``: it reconnected, maybe restarted):
        its groups' leaders probe it again, and quiet followers it led wake (quiesce.py).
        While a peer stays unreachable the transport says so at every failed send: after
        the first report, more within :data:`UNREACHABLE_REPEAT_S` are news to no group,
        and telling thousands of groups each time was most of a broker's work."""
        now = self._loop.time()
        if connected:
            self.peer_reachable(peer)
        else:
            # Suspected down until a write goes through, it connects, or the suspicion
            # expires: leaders may go quiet without it at once, not only after the
            # controller's session timeout (all the groups of a killed broker's peers
            # were awake until then, competing with the elections that replace it).
            suspected = peer in self._unreachable
            self._unreachable[peer] = now
            if not suspected:
                self._apply_down()
        if not connected and now - self._unreachable_at.get(peer, -1e9) < UNREACHABLE_REPEAT_S:
            return
        self._unreachable_at[peer] = -1e9 if connected else now
        self.unreachable_reports += 1
        for group in self._by_peer.get(peer, ()):
            node = group.node
            if node.role is Role.LEADER or node.leader == peer:
                node.report_unreachable(peer)
                self._mark(group)

    def peer_reachable(self, peer: int) -> None:
        """A write to ``peer`` went through again (or it connected): no longer suspected."""
        if self._unreachable.pop(peer, None) is not None:
            self._apply_down()

    def _expire_unreachable(self) -> None:
        """Forget suspicions older than ``unreachable_suspect_s``: the peer's groups look
        again (those still failing suspect it again at once)."""
        if not self._unreachable:
            return
        old = self._loop.time() - self.settings.unreachable_suspect_s
        expired = [peer for peer, at in self._unreachable.items() if at < old]
        for peer in expired:
            del self._unreachable[peer]
        if expired:
            self._apply_down()

    def set_down(self, down: frozenset[int]) -> None:
        """The controller's liveness changed: the groups of every peer whose state changed
        hear it (a quiet group wakes; followers of a dead leader campaign)."""
        self._declared_down = down - {self.node_id}
        self._apply_down()

    def _apply_down(self) -> None:
        """Tell the groups of every peer whose state changed: down is what the controller
        declares and what the transport cannot reach."""
        down = self._declared_down.union(self._unreachable)
        changed, self.down = down ^ self.down, down
        touched: set[RaftGroup] = set()
        for peer in changed:
            touched |= self._by_peer.get(peer, set())
        for group in touched:
            group.node.set_down_peers(down)
            self._mark(group)
        if changed:
            _log.info("peers taken as down now: %s (%d groups told)", sorted(down) or "none",
                      len(touched))  # fmt: skip

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
            groups = list(self._awake)
            for start in range(0, len(groups), TICK_BATCH):
                if start:
                    # Thousands of awake groups (elections after a broker died): let
                    # frames, heartbeats to the controller and requests in between.
                    await asyncio.sleep(0)
                self.tick(groups[start : start + TICK_BATCH])
            self._expire_unreachable()
            self._log_activity()

    def tick(self, groups: Sequence[RaftGroup] | None = None) -> None:
        """Tick the awake groups (or those of ``groups`` still awake); forget those that
        went quiet (their ticks do nothing until an input wakes them, and ``_mark`` puts
        them back then). Only a group whose tick did something is looked at again."""
        awake = self._awake
        dirty = self._dirty
        quiet = []
        for group in list(awake) if groups is None else groups:
            if group not in awake:
                continue  # went quiet or was removed while the tick yielded
            node = group.node
            if node.tick():
                dirty.add(group)
            if node.quiesced:
                quiet.append(group)
        for group in quiet:
            del awake[group]
        self._retry_due()
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
        dirty, self._dirty = self._dirty, set()
        to_sync: list[tuple[RaftGroup, Ready]] = []
        for group in dirty:
            if group.closed or group.failed:
                continue
            if group.inflight is not None:
                # Its writes are on their way to disk; what may leave without waiting for
                # them (heartbeats and their answers, pre-votes) leaves now: a slow fsync
                # round must not silence a leader or its followers (issue 21).
                self._queue(group, group.node.take_messages())
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
            self._count_leadership(group, now)
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
                self._write_later(group, rd, str(exc), failed=True)
                return False
            _log.error("%s: cannot write the Raft log (%s); the log is offline and the "
                       "replica stops until it is reopened", group.name, exc)  # fmt: skip
            group.failed = True
            group.inflight = rd
            group.unwritten = False
            group.listener.on_storage_error(exc)
            return False
        if (rd.snapshot is not None or rd.truncate_to is not None
                or any(e.kind is EntryKind.CONF_CHANGE for e in rd.entries)):  # fmt: skip
            self._index_peers(group)
        if group.write_error is not None:
            _log.info("%s: the Raft log is written again", group.name)
        group.unwritten, group.write_error, group.retry_s = False, None, WRITE_RETRY_MIN_S
        group.write_failed = False
        self._retrying.discard(group)
        return True

    def _count_leadership(self, group: RaftGroup, now: tuple[int | None, int, Role]) -> None:
        before = group.announced
        leader, term, role = now
        if role is Role.CANDIDATE and (before is None or before[2] is not Role.CANDIDATE
                                       or before[1] != term):  # fmt: skip
            self.elections += 1
        if leader is not None and (before is None or before[0] != leader):
            self.leadership_changes += 1

    def _holds_back(self, group: RaftGroup, rd: Ready) -> bool:
        """A follower's data entries while the disk is below its reserve (module doc);
        Raft's own entries (a new leader's, a configuration) still go into the reserve, so
        a cluster whose disks are all full can still elect and commit them."""
        if group.exempt or group.node.role is Role.LEADER:
            return False
        if not any(e.kind is EntryKind.NORMAL for e in rd.entries):
            return False
        return self._space_full()

    def _write_later(self, group: RaftGroup, rd: Ready, why: str, *, failed: bool = False) -> None:
        group.inflight = rd
        episode = not group.unwritten or group.write_error != why
        if episode:
            _log.warning("%s: the Raft log is not written (%s); trying again every %.0f ms "
                         "at most", group.name, why, WRITE_RETRY_MAX_S * 1000)  # fmt: skip
        group.unwritten, group.write_error, group.write_failed = True, why, failed
        group.retry_at = self._loop.time() + group.retry_s
        group.retry_s = min(group.retry_s * 2, WRITE_RETRY_MAX_S)
        self._retrying.add(group)
        if failed and episode:
            group.listener.on_write_failed(why)

    def _retry_due(self) -> None:
        """Writes that failed or were held back, tried again once their backoff passed."""
        if not self._retrying:
            return
        now = self._loop.time()
        for group in [g for g in self._retrying if now >= g.retry_at]:
            self._retry_write(group)

    def _retry_write(self, group: RaftGroup) -> None:
        rd = group.inflight
        if rd is None or group.closed or group.failed:
            self._retrying.discard(group)
            return
        if not self._write(group, rd, retry=True):
            return
        if rd.must_sync:
            self._sync([(group, rd)])
        else:
            group.inflight = None
            self._finish(group, rd)

    def _sync(self, batch: list[tuple[RaftGroup, Ready]]) -> None:
        """Ask for the fsyncs of every file this pass wrote: the hard-state journal once
        (on its own thread: votes never queue behind log fsyncs), each log and side file
        once; each group is finished as soon as its own files are durable (sync_round.py)."""
        waits: SyncRound[tuple[RaftGroup, Ready]] = SyncRound(self._loop, self._synced)
        journals: dict[HardStateJournal, concurrent.futures.Future[int]] = {}
        for group, rd in batch:
            futures: list[concurrent.futures.Future[int]] = []
            state_file = group.storage.state_file
            journal = state_file.take_journaled()
            if journal is not None:
                if journal not in journals:
                    journals[journal] = journal.request()
                futures.append(journals[journal])
            if state_file.dirty:
                futures.append(self._flusher.request(state_file))
            if rd.entries or rd.snapshot is not None or rd.truncate_to is not None:
                futures.append(self._flusher.request(group.storage.log))
            waits.add((group, rd), futures)
        waits.start()

    def _synced(self, durable: list[tuple[tuple[RaftGroup, Ready], BaseException | None]]) -> None:
        self.sync_rounds += 1
        for (group, rd), error in durable:
            if group.closed or group.inflight is not rd:
                continue
            log = group.storage.log
            journal = group.storage.state_file.journal
            if log.offline_reason is not None:
                # A failed fsync: never acknowledge what may not be on disk (storage's
                # rule: the log is offline); its owner reopens it from its files.
                _log.error("%s: fsync failed (%s); the log is offline and the replica stops "
                           "until it is reopened", group.name, log.offline_reason)  # fmt: skip
                group.failed = True
                group.listener.on_storage_error(KafkaStorageError(log.offline_reason))
                continue
            if journal is not None and journal.failed is not None:
                # The hard-state journal's fsync failed: no vote of this broker can be
                # trusted to be on disk any more; to its peers the replica is dead.
                _log.error("%s: %s; the replica stops", group.name, journal.failed)
                group.failed = True
                continue
            if error is not None:
                # The side file or the journal failed and undid its write, and the log did
                # not: persist the Ready again later; nothing it promises leaves before.
                group.storage.state_file.journal_again()
                self._write_later(group, rd, str(error), failed=True)
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
        for group in self._abstaining:
            leader = group.node.leader
            if group.abstaining and leader is not None and leader in outgoing:
                losses.setdefault(leader, []).append((group.name, group.node.last_offset))
        if self.transport is not None:
            self.transport.send(dict(outgoing), losses)
