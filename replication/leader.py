"""What only a leader does: track followers, send them the log, count commits, take
proposals and configuration changes, transfer leadership, check its quorum.

``LeaderState`` exists while its node leads and is dropped when it steps down, so no
leader-only field outlives the term it belongs to.  Appends are not sent when entries are
proposed or acknowledged: peers are marked, and ``flush()`` (called when the driver asks
for a ``Ready``) sends each of them one batched AppendRequest per window slot.  Many
proposals between two Readys thus cost one message per follower, not one each.

Not thread-safe; owned by the node's ``Raft``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replication import quiesce
from replication.confchange import ConfChange, apply_changes, leave_joint
from replication.errors import ConfChangeError, InvalidProposalError, ProposalDroppedError
from replication.messages import (
    AppendRequest,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
    SnapshotRequest,
    TimeoutNow,
)
from replication.progress import Inflights, Progress, ProgressEvent, ProgressState
from replication.quorum import VoteResult, committed_offset, vote_result
from replication.types import ConfState, Entry, EntryId, EntryKind

if TYPE_CHECKING:
    from replication.raft import Raft

__all__ = ["LeaderState"]

_PROBE, _REPLICATE, _SNAPSHOT = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT
_NORMAL = EntryKind.NORMAL


class LeaderState:
    """Per-term leader state of one node."""

    __slots__ = (
        "_bcast",
        "_heard_last_window",
        "_voter",
        "_want",
        "heartbeat_elapsed",
        "progress",
        "raft",
        "transferee",
    )

    def __init__(self, raft: Raft) -> None:
        self.raft = raft
        self.progress: dict[int, Progress] = {}
        self.transferee: int | None = None
        self.heartbeat_elapsed = 0
        self._want: dict[int, bool] = {}  # peer -> send even an empty append
        self._bcast = False  # new entries for every follower
        self._voter = True  # may it take proposals? (not while leaving the configuration)
        #: Check-quorum heard from a quorum in the previous election timeout (a new
        #: leader was just voted for by one).
        self._heard_last_window = True
        self.on_conf_changed()
        own = self.progress.get(raft.id)
        if own is not None:
            persisted = raft.log.persisted_last()
            own.match = -1 if persisted is None else persisted
            own.fire(ProgressEvent.ACKED)

    # -- time ------------------------------------------------------------------------

    def tick(self) -> bool:
        """One tick; True if it stepped down, heartbeat or may send to a throttled learner
        again (``RawNode.tick``)."""
        refilled = self._refill()
        raft = self.raft
        raft.election_elapsed += 1
        self.heartbeat_elapsed += 1
        if raft.election_elapsed >= raft.cfg.election_ticks:
            raft.election_elapsed = 0
            heard = self._quorum_active()
            if raft.cfg.check_quorum and not heard and not self._heard_last_window:
                # Thesis §6.2: a leader that cannot reach a quorum steps down, so that
                # clients find the real leader instead of waiting on this one -- after two
                # silent election timeouts, not one: a busy broker's answers can take
                # longer than one, and deposing a leader its followers still hear made
                # elections storm under load (issue 21). Followers in their lease keep
                # ignoring pre-votes meanwhile; safety never depended on this timing.
                raft.become_follower(raft.term, None)
                return True
            self._heard_last_window = heard
            for node, pr in self.progress.items():
                if node != raft.id:
                    pr.recent_active = False
            if self.transferee is not None:
                self.transferee = None  # the transfer timed out (thesis §3.10)
        if self.heartbeat_elapsed >= raft.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            if raft.cfg.quiesce and quiesce.leader_may_quiesce(self):
                # Nothing left to replicate: the last heartbeat tells the followers to go
                # quiet with us (quiesce.py); from now on ticks do nothing. Every live
                # follower acknowledged our whole log in this term: it counts as active
                # while we sleep, and a down one as inactive (a status read meanwhile --
                # the ISR -- sees what we know, not what the last election tick left).
                self._bcast_heartbeat(quiesce=True)
                raft.quiesced = True
                raft.quiesces += 1
                self.mark_active()
            else:
                self._bcast_heartbeat()
            return True
        return refilled

    def _refill(self) -> bool:
        """Refill the throttled learners' credit (``Progress.refill``)."""
        last = self.raft.log.last_offset()
        sendable = False
        for node, pr in self.progress.items():
            if pr.refill() and pr.match < last:
                self._want.setdefault(node, False)
                sendable = True
        return sendable

    def throttle(self, node: int, rate: int) -> None:
        """Send learner ``node`` at most ``rate`` data bytes a tick (0: no limit)."""
        if rate < 0:
            raise ValueError(f"a throttle of {rate} bytes a tick")
        pr = self.progress.get(node)
        if pr is None or pr.rate == rate:
            return
        pr.rate = rate
        pr.credit = min(pr.credit, rate) if rate else 0
        if not rate and pr.match < self.raft.log.last_offset():
            self._want.setdefault(node, False)

    def on_wake(self) -> None:
        """Back from quiescence: the followers were not heard from while we slept, which
        says nothing about them: give them a full election timeout to answer before
        check-quorum counts them, and heartbeat at the next tick."""
        self.heartbeat_elapsed = self.raft.cfg.heartbeat_ticks - 1
        self.mark_active()

    def heard_from(self, peers: frozenset[int]) -> None:
        """``RawNode.heard_from``: these followers count as active in this window."""
        for node in peers:
            pr = self.progress.get(node)
            if pr is not None:
                pr.recent_active = True

    def mark_active(self) -> None:
        """Every follower counts as heard from unless the failure detector says it is
        down (after quiescence, when nothing was heard because nothing was sent)."""
        down = self.raft.down_peers
        for node, pr in self.progress.items():
            pr.recent_active = node not in down

    def _quorum_active(self) -> bool:
        active = {node: pr.recent_active for node, pr in self.progress.items()}
        active[self.raft.id] = True
        return vote_result(self.raft.conf, active) is VoteResult.WON

    def _bcast_heartbeat(self, *, quiesce: bool = False) -> None:
        raft = self.raft
        commit = raft.log.commit
        for node, pr in self.progress.items():
            if node != raft.id:
                # Never tell a follower a commit beyond what it is known to hold.
                hb = Heartbeat(raft.term, raft.id, node, min(pr.match, commit), quiesce)
                raft.msgs.append(hb)

    # -- messages --------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if isinstance(m, AppendResponse):
            self._on_append_response(m)
        elif isinstance(m, HeartbeatResponse):
            self._on_heartbeat_response(m)
        else:
            # Another leader in our term would break election safety (Raft §5.2).
            assert not isinstance(m, AppendRequest | Heartbeat | SnapshotRequest), (
                f"leader {self.raft.id} of term {self.raft.term} got {type(m).__name__} "
                f"from {m.src}"
            )

    def _on_append_response(self, m: AppendResponse) -> None:
        pr = self.progress.get(m.src)
        if pr is None:
            return
        pr.recent_active = True
        if m.reject:
            self._on_reject(m, pr)
            return
        updated = pr.maybe_update(m.match_offset)
        if not updated and not (pr.state is _PROBE and pr.match == m.match_offset):
            return  # a stale or duplicated acknowledgement
        if pr.state is _PROBE:
            pr.fire(ProgressEvent.ACKED)
        elif pr.state is _SNAPSHOT:
            caught_up = pr.match + 1 >= self.raft.log.first_offset()
            pr.fire(ProgressEvent.CAUGHT_UP if caught_up else ProgressEvent.ACKED)
        else:
            pr.inflights.free_to(m.match_offset)
        # A new commit offset is not sent on its own (etcd does, doubling the messages
        # per entry): it rides on the next append or heartbeat, as Kafka's high
        # watermark rides on the next fetch response.
        if self.maybe_commit() and self.raft.leader is not self:
            return  # the commit removed us from the configuration
        self._want.setdefault(m.src, False)
        if m.src == self.transferee and pr.match == self.raft.log.last_offset():
            self._send_timeout_now(m.src)

    def _on_reject(self, m: AppendResponse, pr: Progress) -> None:
        log = self.raft.log
        if pr.state is _REPLICATE:
            if m.match_offset <= pr.match:
                return  # stale: an answer to an append sent before a later success
            if m.hint_offset > pr.match and log.term_at(m.hint_offset) == m.hint_term:
                # Its log matches ours up to the hint (log matching) and is durable there
                # (rejections leave after persisting): count that, and probe from there.
                # (Resending the whole window instead, still streaming, looks cheaper but
                # storms when appends arrive out of order: without sequence numbers a
                # leader cannot tell stale rejections from new ones.)
                pr.maybe_update(m.hint_offset)
                if self.maybe_commit() and self.raft.leader is not self:
                    return
            pr.fire(ProgressEvent.REJECTED, pr.match + 1)
        elif pr.state is _PROBE:
            if m.match_offset != pr.next - 1:
                return  # stale: not the answer to the probe outstanding
            # Skip every offset whose term is above the follower's hint: such a probe
            # must fail too, because terms only grow along a log (etcd MaybeDecrTo).
            found = log.find_conflict_by_term(m.hint_offset, m.hint_term)
            next_offset = found + 1 if found is not None else log.first_offset() - 1
            pr.fire(ProgressEvent.REJECTED, min(next_offset, m.match_offset))
        else:
            return
        self._want[m.src] = True

    def _on_heartbeat_response(self, m: HeartbeatResponse) -> None:
        pr = self.progress.get(m.src)
        if pr is None:
            return
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state is _REPLICATE and pr.inflights.full():
            pr.inflights.free_first()  # an append may have been lost: let one more go
        if pr.match < self.raft.log.last_offset() or pr.state is _PROBE:
            self._want[m.src] = True

    # -- sending ---------------------------------------------------------------------

    def has_pending_sends(self) -> bool:
        """Would ``flush()`` send anything?  (Cheap: a handful of peers at most.)"""
        if self._bcast:
            return True
        last = self.raft.log.last_offset()
        for node, force in self._want.items():
            pr = self.progress.get(node)
            if pr is not None and not pr.is_paused() and (force or pr.next <= last):
                return True
        return False

    def flush(self) -> None:
        """Send what acknowledgements and proposals made sendable since the last flush."""
        raft = self.raft
        want = self._want
        if self._bcast:
            for node in self.progress:
                if node != raft.id:
                    want.setdefault(node, False)
            self._bcast = False
        self._want = {}
        for node, force in want.items():
            pr = self.progress.get(node)
            if pr is None or node == raft.id:
                continue
            allow_empty = force
            while self._send_append(node, pr, allow_empty):
                allow_empty = False

    def _send_append(self, node: int, pr: Progress, allow_empty: bool) -> bool:
        """Send one append if allowed; True if another one could follow at once."""
        if pr.is_paused():
            return False
        raft = self.raft
        log = raft.log
        last = log.last_offset()
        if pr.next < log.first_offset():
            self._send_snapshot(node, pr)
            return False
        entries: list[Entry]
        if pr.next > last:
            if not allow_empty:
                return False
            entries, prev = [], last
        else:
            limit = raft.cfg.max_append_bytes
            if pr.throttled():  # no bursts: one entry at least, the credit at most
                limit = min(limit, pr.credit)
            entries = log.entries(pr.next, last, limit)
            del entries[raft.cfg.max_append_entries :]
            prev = entries[0].base_offset - 1
        prev_term = log.term_at(prev)
        if prev_term is None:  # compacted since
            self._send_snapshot(node, pr)
            return False
        raft.msgs.append(
            AppendRequest(raft.term, raft.id, node, prev, prev_term, tuple(entries), log.commit)
        )
        counted = raft.cfg.max_inflight_bytes or pr.throttled()
        size = sum(len(e.data) for e in entries) if counted else 0
        pr.sent(prev, entries[-1].last_offset if entries else prev, size)
        return bool(entries) and pr.state is _REPLICATE

    def _send_snapshot(self, node: int, pr: Progress) -> None:
        if not pr.recent_active:
            return  # etcd: do not push a snapshot at a follower that may be down
        raft = self.raft
        snapshot = raft.log.unstable.snapshot or raft.log.storage.snapshot()
        raft.msgs.append(SnapshotRequest(raft.term, raft.id, node, snapshot))
        pr.fire(ProgressEvent.NEEDS_SNAPSHOT, snapshot.meta.offset)

    def _send_timeout_now(self, node: int) -> None:
        raft = self.raft
        raft.msgs.append(TimeoutNow(raft.term, raft.id, node))

    # -- commitment ------------------------------------------------------------------

    def on_persisted(self) -> None:
        """The driver persisted more of our log: the leader counts itself from now on."""
        own = self.progress.get(self.raft.id)
        persisted = self.raft.log.persisted_last()
        if own is not None and persisted is not None and own.maybe_update(persisted):
            self.maybe_commit()

    def maybe_commit(self) -> bool:
        """Advance the commit offset to what a quorum holds -- but only to an entry of
        the current term (Raft §5.4.2: older entries commit indirectly, Figure 8)."""
        raft = self.raft
        log = raft.log
        match = {node: pr.match for node, pr in self.progress.items()}
        offset = committed_offset(raft.conf, match)
        if offset <= log.commit or log.term_at(offset) != raft.term:
            return False
        log.commit_to(offset)
        self.on_commit()
        return True

    # -- proposals -------------------------------------------------------------------

    def propose(self, data: bytes | bytearray | memoryview, count: int) -> EntryId:
        """The hot path: O(1), two small tuples, no copy of ``data``."""
        if count < 1:
            raise InvalidProposalError(f"a proposal covers at least one offset, not {count}")
        if not self._accepting:
            self._check_accepting()
        raft = self.raft
        held = raft.log.unstable.entries
        # A leader's log only grows at its end, so the entry goes straight onto the
        # unstable tail (whose end is the log's end).
        base = held[-1].last_offset + 1 if held else raft.log.last_offset() + 1
        last = base + count - 1
        term = raft.term
        held.append(Entry(term, base, last, _NORMAL, data))
        self._bcast = True
        return EntryId(base, last, term)

    def propose_conf_change(self, changes: list[ConfChange], joint: bool | None) -> EntryId:
        raft = self.raft
        self._check_accepting()
        if raft.confs.pending(raft.log.commit):
            raise ConfChangeError("another configuration change is not committed yet")
        if raft.log.term_at(raft.log.commit) != raft.term:
            # Ongaro, raft-dev 2015: a new leader changing the configuration before it
            # committed an entry of its term can lose a committed change.
            raise ConfChangeError("the leader has not committed an entry of its term yet")
        conf = raft.conf
        new = apply_changes(conf, changes, joint=joint)
        for node in sorted(new.all_voters() - conf.all_voters()):
            pr = self.progress.get(node)
            if node not in conf.learners or pr is None:
                raise ConfChangeError(f"node {node} must join as a learner before it votes")
            if pr.match < raft.log.commit:
                raise ConfChangeError(f"learner {node} has not caught up (at {pr.match})")
        return self.append_conf(new)

    def append_conf(self, conf: ConfState) -> EntryId:
        raft = self.raft
        offset = raft.log.last_offset() + 1
        entry = Entry(raft.term, offset, offset, EntryKind.CONF_CHANGE, conf.encode())
        raft.log.append((entry,))
        raft.on_conf_appended(offset, conf)
        self._bcast = True
        return EntryId(offset, offset, raft.term)

    def append_leader_change(self) -> None:
        raft = self.raft
        offset = raft.log.last_offset() + 1
        raft.log.append((Entry(raft.term, offset, offset, EntryKind.LEADER_CHANGE, b""),))
        self._bcast = True

    @property
    def _accepting(self) -> bool:
        return self.transferee is None and self._voter

    def _check_accepting(self) -> None:
        if self.transferee is not None:
            raise ProposalDroppedError(f"leadership is moving to {self.transferee}")
        if not self._voter:
            raise ProposalDroppedError("this leader is leaving the configuration")

    def on_commit(self) -> None:
        """After the commit offset moved: leave a committed joint configuration (Raft §6),
        step down once a configuration without us is committed."""
        raft = self.raft
        conf = raft.conf
        if raft.confs.pending(raft.log.commit):
            return
        if conf.joint:
            self.append_conf(leave_joint(conf))
        elif not conf.is_voter(raft.id):
            successor = self._most_caught_up_voter()
            if successor is not None:
                self._send_timeout_now(successor)
            raft.become_follower(raft.term, None)

    def _most_caught_up_voter(self) -> int | None:
        last = self.raft.log.last_offset()
        for node in sorted(self.raft.conf.voters):
            pr = self.progress.get(node)
            if pr is not None and pr.match == last:
                return node
        return None

    # -- configuration and transfer ----------------------------------------------------

    def on_conf_changed(self) -> None:
        """Track exactly the members of the configuration now in force."""
        raft = self.raft
        conf = raft.conf
        members = conf.members()
        voters = conf.all_voters()
        self._voter = raft.id in voters
        next_offset = raft.log.last_offset() + 1
        for node in sorted(members):
            pr = self.progress.get(node)
            if pr is None:
                inflights = Inflights(raft.cfg.max_inflight_appends, raft.cfg.max_inflight_bytes)
                pr = Progress(next_offset, inflights, is_learner=node not in voters)
                self.progress[node] = pr
                self._want[node] = True
            pr.is_learner = node not in voters
        for node in [n for n in self.progress if n not in members]:
            del self.progress[node]
            self._want.pop(node, None)
        if self.transferee is not None and self.transferee not in conf.voters:
            self.transferee = None

    def transfer(self, node: int) -> None:
        raft = self.raft
        if node in (raft.id, self.transferee):
            return
        if node not in raft.conf.voters:
            raise ProposalDroppedError(f"cannot transfer leadership to {node}: not a voter")
        self.transferee = node
        raft.election_elapsed = 0  # the transfer must finish within an election timeout
        if self.progress[node].match == raft.log.last_offset():
            self._send_timeout_now(node)
        else:
            self._want[node] = True

    def report_snapshot(self, node: int, success: bool) -> None:
        pr = self.progress.get(node)
        if pr is None or pr.state is not _SNAPSHOT:
            return
        pr.fire(ProgressEvent.SNAPSHOT_DONE if success else ProgressEvent.SNAPSHOT_FAILED)
        pr.probe_sent = True  # wait for its answer or the next heartbeat (etcd)

    def report_data_loss(self, node: int, last_offset: int) -> None:
        """The follower's log ends at ``last_offset``, below what it acknowledged (its disk
        lost acknowledged entries: a cut or corrupted segment). Its match is a lie now:
        forget it and probe from the follower's end, so the lost entries are sent again.
        Lowering a match never lowers the commit offset (commits only move forward), and
        the entries it acknowledged are on a quorum without it."""
        pr = self.progress.get(node)
        if pr is None or node == self.raft.id or pr.match <= last_offset:
            return
        if pr.state is _SNAPSHOT:
            return  # the snapshot in flight resets it anyway
        pr.match = -1
        pr.fire(ProgressEvent.REJECTED, min(last_offset, self.raft.log.last_offset()) + 1)
        self._want[node] = True

    def report_unreachable(self, node: int) -> None:
        pr = self.progress.get(node)
        if pr is not None and node != self.raft.id:
            pr.fire(ProgressEvent.UNREACHABLE, pr.match + 1)
