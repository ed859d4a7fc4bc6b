"""The synchronous facade a driver uses: inputs in, ``Ready`` out (etcd ``rawnode.go``).

A driver loop (the asyncio one in ``logd/``, the simulator's in the tests) does::

    node.step(message)            # for each message received
    node.tick()                   # every tick of its clock
    node.propose(batch, count)    # leader only; raises NotLeaderError otherwise
    node.set_down_peers(peers)    # with Config.quiesce: the failure detector's view
    if node.has_ready():
        ready = node.ready()
        ...                       # send, persist, send after persist, apply (see ready.py)
        node.advance(ready)

``ready()`` may not be called again before ``advance()``; ``step``, ``tick`` and the
proposals may be called in between (their effects go into the next Ready).

With ``Config.async_writes`` (etcd's asynchronous storage writes) a driver may take the
next Ready while earlier ones are still being persisted -- write it and start its fsync at
once -- and ``advance()`` each one, in the order ``ready()`` gave them, as soon as it (and
every one before it) is durable: that call is the storage's word that the Ready's entries
and hard state are on disk (etcd's ``MsgStorageAppendResp``), and nothing counts as
persisted before it (a leader counts itself, a follower's acknowledgement leaves). Only
*plain* Readys overlap: new entries, a moved commit, messages. A Ready that installs a
snapshot, truncates the log, changes the term, vote, role or leader, or carries a
configuration entry is handed out only when no other is outstanding, and none follows it
until it is advanced: those are rare, and their writes (side file, snapshot, truncation)
then never race a running fsync or one another. Committed entries to apply are handed out
only by a Ready taken when none is outstanding (and while some wait to be applied, no
Ready overlaps: a steady stream of plain Readys must not postpone applying them).

Not thread-safe: a RawNode is owned by one driver task, which never awaits while it is in
the middle of a call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from replication.confchange import ConfChange
from replication.config import Config
from replication.errors import InvalidMessageError
from replication.messages import Message
from replication.raft import Raft, Role
from replication.ready import ProgressStatus, Ready, SoftState, Status
from replication.storage import LogStorage
from replication.types import ConfState, EntryId, EntryKind, HardState

__all__ = ["MAX_OUTSTANDING_READYS", "RawNode"]

#: Readys a driver may hold at once with ``Config.async_writes`` (a bound, not a target:
#: one fsync covers every Ready written before it starts).
MAX_OUTSTANDING_READYS = 16


class RawNode:
    """One Raft node without I/O; see the module docstring for the driver's loop."""

    def __init__(self, config: Config, storage: LogStorage) -> None:
        self._raft = raft = Raft(config, storage)
        self._prev_soft = SoftState(raft.leader_id, raft.role)
        self._prev_hard = HardState(raft.term, raft.vote, raft.log.commit)
        self._written_last = storage.last_offset()  # last offset the driver was told to write
        #: Readys handed out and not yet advanced, oldest first.
        self._outstanding: deque[Ready] = deque()
        #: The one outstanding Ready must stay alone (see the module doc).
        self._barrier = False

    # -- inputs ----------------------------------------------------------------------

    def tick(self) -> bool:
        """One tick of the driver's clock (elections and heartbeats count ticks).  A quiet
        node ignores it: a driver may skip quiet nodes altogether.  True if the tick did
        more than count (a message to send, a role or term change): most ticks of most
        groups only count, and a driver of thousands need not look at those again."""
        return self._raft.tick()

    def hold_election(self, ticks: int) -> None:
        """Do not time out for ``ticks`` more ticks: a new group's other replicas give
        its preferred replica, which campaigns at once, time to win -- under load its
        first round can outlast a timeout, and every replica campaigning splits the vote
        (issue 21). Liveness only: a leader is still elected, later."""
        raft = self._raft
        if raft.leader is None:
            raft.election_elapsed = min(raft.election_elapsed, -ticks)

    def campaign(self) -> None:
        """Start an election now (as if the election timeout had passed)."""
        self._raft.wake(notify=False)
        self._raft.campaign()

    def heard_from(self, peers: frozenset[int]) -> None:
        """The driver heard from these peers' brokers lately (any group's traffic) and
        takes none as down; call it every tick, before ``tick``. A leader counts them as
        active for check-quorum: a broker whose frames keep coming is not cut off from us,
        however late this group's own answers are under load -- deposing every leader it
        follows at once made elections storm after a broker died (issue 21). A follower
        whose leader's broker is among them keeps its lease (``Config.vouched_lease``):
        its twin -- followers timing out on leaders whose heartbeats came late re-elected
        thousands of groups over and over. No effect on safety (liveness only)."""
        raft = self._raft
        leader = raft.leader
        if leader is not None:
            leader.heard_from(peers)
        else:
            raft.vouch(peers)

    def set_down_peers(self, peers: frozenset[int]) -> None:
        """The peers a failure detector believes down (``Config.quiesce``; quiesce.py): a
        quiet node wakes when a member's state changes, so a follower whose leader went
        down campaigns within two election timeouts. Cheap when nothing of ours changed."""
        self._raft.set_down_peers(peers)

    @property
    def quiesced(self) -> bool:
        """Ticks do nothing until something wakes this node (quiesce.py)."""
        return self._raft.quiesced

    @property
    def quiesces(self) -> int:
        """How many times this node went quiet: what a driver derives from a quiet node's
        state stays true until this count (or the term) changes."""
        return self._raft.quiesces

    def step(self, message: Message) -> None:
        """Feed a message received from a peer."""
        if message.dst != self._raft.id:
            raise InvalidMessageError(f"message for {message.dst} stepped into {self._raft.id}")
        self._raft.step(message)

    def propose(self, data: bytes | bytearray | memoryview, count: int = 1) -> EntryId:
        """Append an entry covering ``count`` offsets (leader only).

        The entry gets ``[last_offset + 1, last_offset + count]`` and the current term;
        ``data`` is kept by reference and never copied.  The offsets it will get are
        ``self.last_offset + 1`` and ``self.term`` before the call, so a driver can stamp
        the batch header (baseOffset, partitionLeaderEpoch) before proposing.  Raises
        ``NotLeaderError`` or ``ProposalDroppedError``; a returned EntryId is not a promise
        to commit: wait until ``commit >= last_offset`` *and* the term at that offset is
        still the returned term.
        """
        raft = self._raft
        if raft.quiesced:
            raft.wake()
        return raft.require_leader().propose(data, count)

    def propose_conf_change(
        self, changes: Sequence[ConfChange], *, joint: bool | None = None
    ) -> EntryId:
        """Propose a configuration change (leader only); see ``confchange.apply_changes``.

        A node becomes a voter only as a learner that holds every committed entry; the
        change takes effect at once on every node that appends it, one change at a time;
        a joint change is left automatically once committed.  Raises ``ConfChangeError``.
        """
        self._raft.wake()
        return self._raft.require_leader().propose_conf_change(list(changes), joint)

    def transfer_leadership(self, to: int) -> None:
        """Hand leadership to voter ``to`` once it has our log (thesis §3.10).

        Proposals are refused until the transfer ends: by the new leader's election, or
        after an election timeout.
        """
        self._raft.wake()
        self._raft.require_leader().transfer(to)

    def throttle(self, to: int, rate: int) -> None:
        """Send learner ``to`` at most ``rate`` data bytes a tick (0: no limit; leader
        only, for this term: a new leader sends at full speed until told again). A voter
        is never held back; the limit starts applying again if ``to`` becomes a learner."""
        self._raft.require_leader().throttle(to, rate)

    def report_snapshot(self, to: int, *, success: bool) -> None:
        """The driver finished (or failed) sending a SnapshotRequest to ``to``."""
        self._raft.wake()
        if self._raft.leader is not None:
            self._raft.leader.report_snapshot(to, success)

    def report_unreachable(self, to: int) -> None:
        """The transport failed to deliver to ``to``, or lost its connection: a leader
        stops streaming to it and probes; a follower of ``to`` wakes and, its leader
        perhaps dead, stands for election in its group's agreed order
        (``Raft.lost_leader``)."""
        raft = self._raft
        if raft.leader is not None:
            if not (raft.quiesced and to in raft.down_peers):
                raft.wake()  # (a peer known down being unreachable is no news)
            raft.leader.report_unreachable(to)
        elif to == raft.leader_id:
            raft.lost_leader()

    def report_data_loss(self, to: int, last_offset: int) -> None:
        """``to`` lost entries it had acknowledged; its log ends at ``last_offset`` now.

        Raft assumes acknowledged entries stay durable; a follower whose segment was cut or
        corrupted breaks that, and a leader that keeps its old match would never send the
        lost entries again (``next`` never goes below ``match + 1``). The driver learns of
        the loss from the follower and reports it here; the leader then probes afresh.
        """
        self._raft.wake()
        if self._raft.leader is not None:
            self._raft.leader.report_data_loss(to, last_offset)

    # -- outputs ---------------------------------------------------------------------

    def has_ready(self) -> bool:
        """True if ``ready()`` has something to do. False while a Ready is outstanding,
        unless ``Config.async_writes`` lets the next one overlap it (module doc)."""
        raft = self._raft
        outstanding = self._outstanding
        if outstanding and not self._may_overlap():
            return False
        if raft.has_messages():
            return True
        if raft.leader_id != self._prev_soft.leader or raft.role is not self._prev_soft.role:
            return True
        hard = self._prev_hard
        if raft.term != hard.term or raft.vote != hard.vote or raft.log.commit != hard.commit:
            return True
        unstable = raft.log.unstable
        if unstable.snapshot is not None and not unstable.snapshot_in_progress:
            return True
        if unstable.in_progress < len(unstable.entries):
            return True
        if outstanding:  # a moved commit shows in the hard state above
            return False
        if raft.cfg.apply_entries:
            return raft.log.has_next_committed()
        return raft.log.applied < raft.log.commit

    def _may_overlap(self) -> bool:
        """Whether the next Ready may be handed out while others are outstanding: only a
        plain one, after plain ones, within the bound (module doc)."""
        raft = self._raft
        if not raft.cfg.async_writes or self._barrier:
            return False
        if len(self._outstanding) >= MAX_OUTSTANDING_READYS:
            return False
        if raft.cfg.apply_entries and raft.log.has_next_committed():
            return False  # let the pipeline drain: the next Ready applies them
        soft, hard = self._prev_soft, self._prev_hard
        if raft.leader_id != soft.leader or raft.role is not soft.role:
            return False
        if raft.term != hard.term or raft.vote != hard.vote:
            return False
        unstable = raft.log.unstable
        if unstable.snapshot is not None and not unstable.snapshot_in_progress:
            return False
        new = unstable.entries[unstable.in_progress :]
        if new and new[0].base_offset <= self._written_last:
            return False  # a truncation
        return not any(e.kind is EntryKind.CONF_CHANGE for e in new)

    def take_messages(self) -> list[Message]:
        """The messages that may leave at once -- heartbeats and their answers, pre-votes,
        TimeoutNow -- taken out early, typically while a Ready is outstanding: they would
        have been the next Ready's ``messages``, which leave before anything of that Ready
        is persisted anyway. Appends and everything that must wait for a persist stay for
        the next Ready. A driver whose fsyncs are slow thus keeps its groups' leaders and
        followers in touch (issue 21: heartbeats starved behind bulk writes)."""
        raft = self._raft
        msgs, raft.msgs = raft.msgs, []
        return msgs

    def ready(self) -> Ready:
        """Collect what to send, persist and apply; ``advance()`` must follow."""
        overlap = bool(self._outstanding)
        assert not overlap or self._may_overlap(), "advance() the outstanding Ready first"
        raft = self._raft
        log = raft.log
        msgs, after = raft.take_messages()
        unstable = log.unstable
        snapshot = unstable.snapshot if not unstable.snapshot_in_progress else None
        if snapshot is not None:
            self._written_last = snapshot.meta.offset
        entries = unstable.next_entries()
        truncate_to = None
        if entries:
            if entries[0].base_offset <= self._written_last:
                truncate_to = entries[0].base_offset
            self._written_last = entries[-1].last_offset
        committed = (
            log.next_committed(raft.cfg.max_apply_bytes)
            if raft.cfg.apply_entries and not overlap
            else []
        )
        soft: SoftState | None = None
        prev_soft = self._prev_soft
        if raft.leader_id != prev_soft.leader or raft.role is not prev_soft.role:
            soft = self._prev_soft = SoftState(raft.leader_id, raft.role)
        hard: HardState | None = None
        prev = self._prev_hard
        vote_changed = raft.term != prev.term or raft.vote != prev.vote
        if vote_changed or log.commit != prev.commit:
            hard = self._prev_hard = HardState(raft.term, raft.vote, log.commit)
        rd = Ready(
            soft_state=soft,
            hard_state=hard,
            snapshot=snapshot,
            truncate_to=truncate_to,
            entries=entries,
            committed_entries=committed,
            commit=log.commit,
            messages=msgs,
            messages_after_persist=after,
            must_sync=bool(entries or snapshot or vote_changed),
        )
        unstable.accept_in_progress()
        self._outstanding.append(rd)
        self._barrier = bool(
            snapshot is not None
            or truncate_to is not None
            or vote_changed
            or soft is not None
            or any(e.kind is EntryKind.CONF_CHANGE for e in entries)
        )
        return rd

    def advance(self, ready: Ready) -> None:
        """The driver did everything ``ready`` asked: it is durable, sent and applied.
        Readys are advanced in the order ``ready()`` gave them (the oldest outstanding)."""
        outstanding = self._outstanding
        assert outstanding and ready is outstanding[0], "advance() the oldest outstanding Ready"
        outstanding.popleft()
        if not outstanding:
            self._barrier = False
        raft = self._raft
        log = raft.log
        if ready.snapshot is not None:
            log.stable_snapshot_to(ready.snapshot.meta.offset)
            log.applied_to(ready.snapshot.meta.offset)
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.last_offset, last.term)
        if ready.committed_entries:
            log.applied_to(ready.committed_entries[-1].last_offset)
        elif not raft.cfg.apply_entries:
            log.applied_to(ready.commit)
        raft.confs.prune(min(log.commit, log.applied))
        raft.on_persisted()

    # -- queries ---------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._raft.id

    @property
    def term(self) -> int:
        return self._raft.term

    @property
    def role(self) -> Role:
        return self._raft.role

    @property
    def leader(self) -> int | None:
        return self._raft.leader_id

    @property
    def commit(self) -> int:
        """The last committed offset; the high watermark is ``commit + 1``."""
        return self._raft.log.commit

    @property
    def last_offset(self) -> int:
        return self._raft.log.last_offset()

    @property
    def conf(self) -> ConfState:
        """The configuration in force (the latest in the log)."""
        return self._raft.conf

    def term_at(self, offset: int) -> int | None:
        """The term of the entry holding ``offset``, None if not in the log."""
        return self._raft.log.term_at(offset)

    def conf_state_at(self, offset: int) -> ConfState:
        """The configuration at ``offset`` (for a snapshot taken at the applied offset)."""
        return self._raft.confs.at(offset)

    def status(self) -> Status:
        raft = self._raft
        log = raft.log
        progress: dict[int, ProgressStatus] = {}
        leader = raft.leader
        if leader is not None:
            for node, pr in leader.progress.items():
                progress[node] = ProgressStatus(
                    pr.match,
                    pr.next,
                    pr.state,
                    pr.recent_active,
                    pr.probe_sent,
                    len(pr.inflights),
                    pr.is_learner,
                )
        return Status(
            id=raft.id,
            role=raft.role,
            term=raft.term,
            vote=raft.vote,
            leader=raft.leader_id,
            commit=log.commit,
            applied=log.applied,
            first_offset=log.first_offset(),
            last_offset=log.last_offset(),
            last_term=log.last_term(),
            conf=raft.conf,
            conf_pending=raft.confs.pending(log.commit),
            transferee=leader.transferee if leader is not None else None,
            progress=progress,
            quiesced=raft.quiesced,
        )
