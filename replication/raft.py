"""The Raft state machine of one node: terms, roles, elections and the follower's side.

Inputs are ``step(message)``, ``tick()`` and the leader's proposals; outputs are appended
to ``msgs`` (may leave at once) and ``msgs_after_persist`` (may leave only once the hard
state and entries of the same Ready are durable), as etcd's ``raft.go`` appends to
``r.msgs``.  Nothing here does I/O, reads a clock or draws a random number from outside.

Dispatch is by role (``_step_follower``, ``_step_candidate``, ``LeaderState.step``) after
the term rules that apply to every role (Raft §5.1, with thesis §9.6 pre-vote and §6.2
check-quorum).  A quiet node (``quiesce.py``) ignores ticks until something wakes it.
Configurations take effect when appended to the log (thesis §4.1), so a
follower's configuration follows its log, truncations included.

Not thread-safe; owned by the node's ``RawNode``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from replication import quiesce
from replication.config import Config, SplitMix64
from replication.config_history import ConfigHistory
from replication.errors import InvalidConfigError, InvalidMessageError, NotLeaderError
from replication.leader import LeaderState
from replication.log import RaftLog
from replication.messages import (
    AppendRequest,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
    SnapshotRequest,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from replication.quorum import VoteResult, vote_result
from replication.storage import LogStorage
from replication.types import ConfState, Entry, EntryKind, Snapshot

__all__ = ["Raft", "Role"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class Raft:
    """One node's Raft state; see the module docstring."""

    def __init__(self, cfg: Config, storage: LogStorage) -> None:
        cfg.validate()
        self.cfg = cfg
        self.id = cfg.node_id
        self._rng = SplitMix64(cfg.seed * 0x100000001B3 + cfg.node_id)
        init = storage.initial_state()
        self.log = RaftLog(storage)
        self.confs = ConfigHistory(init.conf_states)
        hard = init.hard_state
        self.term = hard.term
        self.vote: int | None = hard.vote
        # The commit offset may have been persisted lazily, or ahead of entries that
        # were lost unsynced: clamp it to the log (those entries are on a quorum).
        self.log.commit_to(min(max(hard.commit, self.log.commit), self.log.last_offset()))
        if cfg.apply_entries and cfg.applied is not None:
            if not self.log.first_offset() - 1 <= cfg.applied <= self.log.last_offset():
                raise InvalidConfigError(
                    f"applied offset {cfg.applied} is outside the log "
                    f"[{self.log.first_offset() - 1}, {self.log.last_offset()}]"
                )
            self.log.commit_to(max(self.log.commit, cfg.applied))
            self.log.applied_to(max(cfg.applied, self.log.applied))
        elif not cfg.apply_entries:
            self.log.applied_to(self.log.commit)
        self.confs.prune(self.log.applied)
        self.role = Role.FOLLOWER
        self.leader_id: int | None = None
        self.leader: LeaderState | None = None
        self.votes: dict[int, bool] = {}
        self.election_elapsed = 0
        self.randomized_timeout = cfg.election_ticks
        #: Ticks are ignored until a message, a proposal or a liveness change wakes us.
        self.quiesced = False
        #: How many times this node went quiet (a driver caches what stays true while
        #: quiet -- a quiet leader's ISR -- under this count).
        self.quiesces = 0
        #: Peers the driver's failure detector says are down (``set_down_peers``).
        self.down_peers: frozenset[int] = frozenset()
        #: Peers whose brokers the driver heard from lately (``vouch``; a follower's lease
        #: on its leader's broker, ``Config.vouched_lease``).
        self.vouched: frozenset[int] = frozenset()
        #: Elections this node started since it last heard from a leader (the back-off).
        self.unanswered_campaigns = 0
        #: ``_awaits_votes``' last answer and what it depended on.
        self._awaits_cache: tuple[dict[int, bool], int, frozenset[int], ConfState, bool] | None
        self._awaits_cache = None
        self.msgs: list[Message] = []
        self.msgs_after_persist: list[Message] = []
        self.become_follower(self.term, None)

    # -- queries ---------------------------------------------------------------------

    @property
    def conf(self) -> ConfState:
        """The configuration in force: the latest in the log, committed or not."""
        return self.confs.current

    def promotable(self) -> bool:
        """May this node campaign?  A voter may; so may a node whose removal is not yet
        committed.  Without that exception a cluster can deadlock: a leader removes
        itself from {1,2}, appends C_new={2} and crashes before 2 gets it; 1 no longer
        counts itself a voter, while 2, still in {1,2}, needs the vote that 1 refuses
        (its log is longer).  Votes are still counted in the latest configuration, whose
        majorities overlap the previous one's, so election safety holds (thesis §4.2.2:
        a leader may briefly manage a cluster it is not part of, then steps down).
        """
        if self.log.unstable.snapshot is not None:
            return False
        return self.conf.is_voter(self.id) or self.confs.at(self.log.commit).is_voter(self.id)

    def _in_lease(self) -> bool:
        """Thesis §4.2.3: heard from a leader within the minimum election timeout -- or,
        while its broker is vouched for (``vouch``), within ``vouched_lease`` of them."""
        return (
            self.cfg.check_quorum
            and self.leader_id is not None
            and self.election_elapsed < self.cfg.election_ticks + self._lease_extension()
        )

    def _lease_extension(self) -> int:
        """Ticks a follower waits beyond its election timeout because the driver vouches
        for its leader's broker (``Config.vouched_lease``): not if the failure detector
        says the leader is down, whatever was heard."""
        leader, lease = self.leader_id, self.cfg.vouched_lease
        if lease < 2 or leader is None or leader == self.id or leader not in self.vouched:
            return 0
        if leader in self.down_peers:
            return 0
        return (lease - 1) * self.cfg.election_ticks

    # -- role changes ----------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            assert term > self.term, f"term going back from {self.term} to {term}"
            self.term = term
            self.vote = None
        self.leader_id = None
        self.leader = None
        self.votes = {}
        self.election_elapsed = 0
        self.quiesced = False
        self.randomized_timeout = self._draw_timeout()

    def _draw_timeout(self) -> int:
        """``[e, 2e)`` ticks; after unanswered elections the random part doubles each time
        (up to ``2 ** election_backoff``), so that under overload, when one election round
        takes longer than the spread of the timeouts, the candidates stop colliding."""
        e = self.cfg.election_ticks
        shift = min(max(self.unanswered_campaigns - 1, 0), self.cfg.election_backoff)
        return e + self._rng.below(e << shift)

    def become_follower(self, term: int, leader: int | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader_id = leader

    def _become_pre_candidate(self) -> None:
        # Pre-vote changes neither term nor vote (thesis §9.6): a node that cannot win
        # does not disturb the cluster.
        assert self.role is not Role.LEADER
        self.role = Role.PRE_CANDIDATE
        self.leader_id = None
        self.leader = None
        self.votes = {}

    def _become_candidate(self) -> None:
        assert self.role is not Role.LEADER
        self._reset(self.term + 1)
        self.role = Role.CANDIDATE
        self.vote = self.id

    def _become_leader(self) -> None:
        assert self.role is Role.CANDIDATE, self.role
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader_id = self.id
        self.unanswered_campaigns = 0
        self.leader = LeaderState(self)
        # Raft §8: a new leader commits an entry of its own term first; only then are
        # the older entries it holds known committed (§5.4.2).
        self.leader.append_leader_change()

    # -- time ------------------------------------------------------------------------

    def tick(self) -> bool:
        """One tick; True if it did more than count (see ``RawNode.tick``)."""
        if self.quiesced:
            return False
        if self.leader is not None:
            return self.leader.tick()
        self.election_elapsed += 1
        if self.election_elapsed < self.randomized_timeout:
            return False
        if self._awaits_votes():
            return False
        if self.promotable():
            if self.election_elapsed < self.randomized_timeout + self._lease_extension():
                return False  # its leader's broker is heard: late, not gone
            self.election_elapsed = 0
            self.unanswered_campaigns += 1
            if self.unanswered_campaigns > 1:
                self.randomized_timeout = self._draw_timeout()
            self.campaign()
        elif (
            self.cfg.quiesce
            and self.leader_id is not None
            and self.election_elapsed % self.randomized_timeout == 0
        ):
            # A learner cannot campaign: once a timeout it wakes a leader that went quiet
            # while the quiesce heartbeat for us was lost (else it would tick alone for
            # ever). Its lease runs out all the same: it must grant votes when asked.
            self.msgs.append(HeartbeatResponse(self.term, self.id, self.leader_id, wake=True))
        else:
            return False
        return True

    def _awaits_votes(self) -> bool:
        """A (pre-)candidate past its timeout that still waits (``cfg.vote_wait``): live
        voters' answers are missing that could make it win -- its own vote or theirs is
        still on its way to disk, most likely. Voters taken as down count as refusals."""
        if self.role not in (Role.CANDIDATE, Role.PRE_CANDIDATE) or not self.cfg.vote_wait:
            return False
        if self.election_elapsed >= self.randomized_timeout * (1 + self.cfg.vote_wait):
            return False
        # Asked at every tick of the wait, by thousands of candidates after a broker died
        # (a third of a saturated broker's loop, issue 21): the answer changes only with
        # the votes, the detector's view or the configuration.
        conf, cached = self.conf, self._awaits_cache
        if (cached is not None and cached[0] is self.votes and cached[1] == len(self.votes)
                and cached[2] is self.down_peers and cached[3] is conf):  # fmt: skip
            return cached[4]
        votes = dict.fromkeys(self.down_peers - self.votes.keys(), False)
        votes.update(self.votes)
        pending = vote_result(conf, votes) is VoteResult.PENDING
        self._awaits_cache = (self.votes, len(self.votes), self.down_peers, conf, pending)
        return pending

    # -- quiescence (quiesce.py) -----------------------------------------------------

    def wake(self, *, notify: bool = True) -> None:
        """Leave quiescence: tick again, as if the leader had just been heard from.  A
        follower tells its leader (``notify``), which otherwise could sleep on while this
        node ticks for ever: a learner never campaigns, so nothing else would reach it
        (CockroachDB's "unquiesce and wake leader")."""
        if not self.quiesced:
            return
        self.quiesced = False
        self.election_elapsed = 0
        self.vouched = frozenset()  # as of before it slept: the next tick says afresh
        if self.leader is not None:
            self.leader.on_wake()
        elif notify and self.leader_id is not None:
            self.msgs.append(HeartbeatResponse(self.term, self.id, self.leader_id, wake=True))

    def lost_leader(self) -> None:
        """The transport lost its connection to our leader (its process may have died).
        Wake and tell it (alive, it answers within a tick or two and nothing happens); give
        up the lease, and stand for election in an order every follower of the group
        computes alike (``cfg.group_salt``): the first within a few ticks, the next half an
        election timeout later -- one candidate at a time, not several splitting the vote,
        which made thousands of groups losing one broker take many rounds (issue 21)."""
        self.wake()
        self.vouched = frozenset()  # the lease on its broker goes with the connection
        if self.leader is not None or not self.promotable():
            return
        e = self.cfg.election_ticks
        salt = self.cfg.group_salt
        order = sorted(self.conf.voters - {self.leader_id}, key=lambda n: _rank(salt, n))
        rank = order.index(self.id) if self.id in order else len(order)
        self.election_elapsed = max(self.election_elapsed, e)
        self.randomized_timeout = e + 1 + rank * max(1, e // 2) + self._rng.below(max(1, e // 4))

    def set_down_peers(self, peers: frozenset[int]) -> None:
        """The failure detector's view changed: a change that concerns us wakes us
        (``quiesce.down_news_wakes``: our leader, a member back, our live quorum).
        A follower then campaigns within two election timeouts unless its leader, told
        that we woke, heartbeats -- the detector may be wrong (a broker late with its
        heartbeats under load is not dead), so the lease is kept: giving it up made every
        false alarm an election, and under overload elections storm."""
        old, self.down_peers = self.down_peers, peers
        changed = (old ^ peers) & (self.conf.members() - {self.id})
        if not changed:
            return
        if quiesce.down_news_wakes(self, changed):
            self.wake()
        elif self.quiesced and self.leader is not None:
            # Asleep, but the followers it takes as active are what the broker reports as
            # in sync: a follower called down leaves at once, as when it woke for it.
            self.leader.mark_active()

    def vouch(self, peers: frozenset[int]) -> None:
        """The driver heard lately from these peers' brokers (any group's traffic) and
        takes none of them as down: a follower whose leader's broker is among them keeps
        its lease (``Config.vouched_lease``). Until the next call; a driver calls it every
        tick, before ``tick``."""
        self.vouched = peers

    # -- elections -------------------------------------------------------------------

    def campaign(self, *, transfer: bool = False) -> None:
        """Start an election: a pre-vote first unless disabled or a transfer (§3.10)."""
        if self.role is Role.LEADER or not self.promotable():
            return
        if self.cfg.pre_vote and not transfer:
            self._become_pre_candidate()
            self._request_votes(self.term + 1, pre_vote=True, transfer=False)
        else:
            self._elect(transfer=transfer)

    def _elect(self, *, transfer: bool) -> None:
        self._become_candidate()
        self._request_votes(self.term, pre_vote=False, transfer=transfer)

    def _request_votes(self, term: int, *, pre_vote: bool, transfer: bool) -> None:
        if self._poll(self.id, granted=True):
            return
        last_offset, last_term = self.log.last_offset(), self.log.last_term()
        out = self.msgs if pre_vote else self.msgs_after_persist  # a vote for self: durable
        for node in sorted(self.conf.all_voters()):
            if node != self.id:
                out.append(
                    VoteRequest(term, self.id, node, last_offset, last_term, pre_vote, transfer)
                )

    def _poll(self, node: int, *, granted: bool) -> bool:
        """Count a vote; True if it decided the election (won or lost)."""
        self.votes.setdefault(node, granted)
        result = vote_result(self.conf, self.votes)
        if result is VoteResult.WON:
            if self.role is Role.PRE_CANDIDATE:
                self._elect(transfer=False)  # the pre-vote is won: the real vote now
            else:
                self._become_leader()
            return True
        if result is VoteResult.LOST:
            self.become_follower(self.term, None)
            return True
        return False

    def _handle_vote(self, m: VoteRequest) -> None:
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.leader_id is None)
            or (m.pre_vote and m.term > self.term and not self._yields_to_us(m))
        )
        if can_vote and self.log.is_up_to_date(m.last_offset, m.last_term):
            # Answer with the request's term: a pre-candidate ignores older answers.
            grant = VoteResponse(m.term, self.id, m.src, True, m.pre_vote)
            if m.pre_vote:
                self.msgs.append(grant)
            else:
                self.vote = m.src
                self.election_elapsed = 0
                self.msgs_after_persist.append(grant)  # the vote must be durable first
        else:
            reject = VoteResponse(self.term, self.id, m.src, False, m.pre_vote)
            (self.msgs if m.pre_vote else self.msgs_after_persist).append(reject)
            if m.pre_vote and self.role is Role.PRE_CANDIDATE and m.src not in self.votes:
                self._ask_again(m.src)

    def _ask_again(self, node: int) -> None:
        """Our pre-vote to ``node`` went unanswered, and ``node`` now stands itself -- so
        it is out of the lease in which it ignored our request (it had not yet heard that
        the leader died when the request came). Ask it again: we refuse it (it yields to
        us, or its log is behind ours) and it would never answer us, both waiting until
        ``vote_wait`` gives up -- a tenth to a sixth of a killed broker's 1,000 groups,
        ~3 s at 3,000 partitions (issue 21). A pre-vote changes no state: liveness only."""
        last_offset, last_term = self.log.last_offset(), self.log.last_term()
        self.msgs.append(
            VoteRequest(self.term + 1, self.id, node, last_offset, last_term, True, False)
        )

    def _yields_to_us(self, m: VoteRequest) -> bool:
        """Two pre-candidates at once -- the next in the group's election order timed out
        while the first one's pre-vote was still on its way, as under load: the one ranked
        later in that order (``lost_leader``) is refused, unless its log is ahead of ours
        (then it refuses us, and only it can win). Granting each other made both
        candidates of the same term, a split vote, and another round after a randomized
        timeout for a third of a dead broker's groups (issue 21). The later one grants the
        earlier one's pre-vote, so one of them wins. Liveness only: a pre-vote changes no
        state."""
        if self.role is not Role.PRE_CANDIDATE:
            return False
        ours = (self.log.last_term(), self.log.last_offset())
        if (m.last_term, m.last_offset) > ours:
            return False
        salt = self.cfg.group_salt
        return _rank(salt, self.id) < _rank(salt, m.src)

    # -- stepping --------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if self.quiesced and not quiesce.sleeps_through(self, m):
            self.wake(notify=m.src != self.leader_id)
        if m.term > self.term:
            if not self._on_higher_term(m):
                return
        elif m.term < self.term:
            self._on_lower_term(m)
            return
        if isinstance(m, VoteRequest):
            self._handle_vote(m)
        elif self.leader is not None:
            self.leader.step(m)
        elif self.role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _on_higher_term(self, m: Message) -> bool:
        """Raft §5.1 with its exceptions; False if the message is to be ignored."""
        if isinstance(m, VoteRequest):
            if self._in_lease() and not m.transfer:
                return False  # check-quorum: our leader is alive, ignore the disruptor
            if m.pre_vote:
                return True  # never change term for a pre-vote
            self.become_follower(m.term, None)
            return True
        if isinstance(m, VoteResponse) and m.pre_vote and m.granted:
            return True  # a pre-vote grant carries the term we would move to
        leader = m.src if isinstance(m, AppendRequest | Heartbeat | SnapshotRequest) else None
        self.become_follower(m.term, leader)
        return True

    def _on_lower_term(self, m: Message) -> None:
        from_leader = isinstance(m, AppendRequest | Heartbeat)
        if from_leader and (self.cfg.check_quorum or self.cfg.pre_vote):
            # A deposed leader keeps sending: tell it our term so that it steps down.
            # Without this, a node that moved to a higher term while partitioned could
            # never rejoin, since with check-quorum and pre-vote nobody adopts its term.
            self.msgs.append(HeartbeatResponse(self.term, self.id, m.src))
        elif isinstance(m, VoteRequest) and m.pre_vote:
            self.msgs.append(VoteResponse(self.term, self.id, m.src, False, True))

    def _step_follower(self, m: Message) -> None:
        if isinstance(m, AppendRequest | Heartbeat | SnapshotRequest):
            self.election_elapsed = 0
            self.leader_id = m.src
            self._handle_from_leader(m)
        elif isinstance(m, TimeoutNow):
            self.campaign(transfer=True)

    def _step_candidate(self, m: Message) -> None:
        if isinstance(m, AppendRequest | Heartbeat | SnapshotRequest):
            self.become_follower(m.term, m.src)  # someone won this term
            self._handle_from_leader(m)
        elif isinstance(m, VoteResponse):
            pre = self.role is Role.PRE_CANDIDATE
            if m.pre_vote != pre:
                return
            if pre and m.granted and m.term != self.term + 1:
                return  # a grant from an earlier pre-vote round
            self._poll(m.src, granted=m.granted)

    def _handle_from_leader(self, m: AppendRequest | Heartbeat | SnapshotRequest) -> None:
        self.unanswered_campaigns = 0
        if isinstance(m, AppendRequest):
            self._handle_append(m)
        elif isinstance(m, Heartbeat):
            self.log.commit_to(min(m.commit, self.log.last_offset()))
            if m.quiesce and quiesce.follower_may_quiesce(self, m.commit):
                self.quiesced = True  # no answer: the leader stays quiet too
                self.quiesces += 1
                return
            # An answer to a quiesce heartbeat we cannot honor asks the leader to stay awake.
            self.msgs.append(HeartbeatResponse(self.term, self.id, m.src, wake=m.quiesce))
        else:
            self._handle_snapshot(m)

    # -- the follower's side of replication ---------------------------------------------

    def _handle_append(self, m: AppendRequest) -> None:
        _check_append(m)
        log = self.log
        if m.prev_offset < log.commit:
            # Everything up to our commit matches the leader's (Leader Completeness).
            self._ack(m.src, log.commit)
            return
        first_new = log.maybe_append(m.prev_offset, m.prev_term, m.commit, m.entries)
        if first_new is None:
            hint = log.find_conflict_by_term(m.prev_offset, m.prev_term)
            if hint is None:
                hint = log.commit
            hint_term = log.term_at(hint)
            assert hint_term is not None
            self.msgs_after_persist.append(
                AppendResponse(self.term, self.id, m.src, m.prev_offset, True, hint, hint_term)
            )
            return
        if first_new < len(m.entries):
            self._on_entries_appended(m.entries, first_new)
        self._ack(m.src, m.entries[-1].last_offset if m.entries else m.prev_offset)

    def _ack(self, leader: int, match: int) -> None:
        # An acknowledgement promises durability: it leaves only after the persist.
        self.msgs_after_persist.append(AppendResponse(self.term, self.id, leader, match))

    def _on_entries_appended(self, entries: Sequence[Entry], first: int) -> None:
        """Configurations take effect as soon as they are in the log (thesis §4.1)."""
        self.confs.truncate(entries[first].base_offset)
        for e in entries[first:]:
            if e.kind == EntryKind.CONF_CHANGE:
                self.confs.append(e.last_offset, ConfState.decode(e.data))

    def _handle_snapshot(self, m: SnapshotRequest) -> None:
        meta = m.snapshot.meta
        log = self.log
        if meta.offset <= log.commit:
            self._ack(m.src, log.commit)
        elif log.term_at(meta.offset) == meta.term:
            log.commit_to(meta.offset)  # we hold its last entry: no need to restore
            self._ack(m.src, meta.offset)
        else:
            self.restore(m.snapshot)
            self._ack(m.src, meta.offset)

    def restore(self, snapshot: Snapshot) -> None:
        """Reset the log to start after ``snapshot``; the driver persists it from Ready."""
        self.log.restore(snapshot)
        self.confs.reset(snapshot.meta.offset, snapshot.meta.conf_state)

    # -- proposals (leader only) ----------------------------------------------------

    def require_leader(self) -> LeaderState:
        if self.leader is None:
            raise NotLeaderError(
                f"node {self.id} is not the leader (leader: {self.leader_id})", self.leader_id
            )
        return self.leader

    # -- hooks -----------------------------------------------------------------------

    def on_conf_appended(self, offset: int, conf: ConfState) -> None:
        """The leader appended a configuration: it is in force from now on."""
        self.confs.append(offset, conf)
        if self.leader is not None:
            self.leader.on_conf_changed()
            self.leader.maybe_commit()  # a smaller quorum may commit more

    def on_persisted(self) -> None:
        if self.leader is not None:
            self.leader.on_persisted()

    def take_messages(self) -> tuple[list[Message], list[Message]]:
        if self.leader is not None:
            self.leader.flush()
        msgs, after = self.msgs, self.msgs_after_persist
        self.msgs, self.msgs_after_persist = [], []
        if after and after[0].term < self.term:
            # Answers from a term we have left (acknowledgements of entries a newer
            # leader replaced since, votes superseded by a later term): dropping them is
            # as safe as losing them, and keeps "an ack means it is durable" exact.
            after = [m for m in after if m.term >= self.term]
        return msgs, after

    def has_messages(self) -> bool:
        if self.msgs or self.msgs_after_persist:
            return True
        return self.leader is not None and self.leader.has_pending_sends()


def _rank(salt: int, node: int) -> int:
    """A node's place in its group's agreed election order (same on every node)."""
    return SplitMix64(salt * 0x100000001B3 + node).next()


def _check_append(m: AppendRequest) -> None:
    """The structure every AppendRequest must have: entries contiguous after prev."""
    expected = m.prev_offset + 1
    for e in m.entries:
        if e.base_offset != expected or e.last_offset < e.base_offset or e.term > m.term:
            raise InvalidMessageError(
                f"append from {m.src}: entry {e.base_offset}-{e.last_offset} of term "
                f"{e.term} does not follow offset {expected - 1} in term {m.term}"
            )
        expected = e.last_offset + 1
