"""A node's settings, and the deterministic jitter of its election timeout.

Time is counted in ticks that the driver delivers (etcd's abstract tick); randomness comes
from a seed the driver passes, through a SplitMix64 sequence, so a simulator run replays
exactly and the core imports no ``random`` (STYLE.md 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from replication.errors import InvalidConfigError

__all__ = ["Config", "SplitMix64"]

_MASK64 = (1 << 64) - 1


class SplitMix64:
    """A tiny, fast, well-mixed 64-bit sequence (Steele, Lea, Flood 2014).

    Not thread-safe; owned by one node.
    """

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK64

    def next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A value in ``[0, n)``; the modulo bias is negligible for tick counts."""
        return self.next() % n


@dataclass(frozen=True, slots=True)
class Config:
    """How one node runs; every count is in ticks, entries or bytes.

    * ``election_ticks``: a follower that hears from no leader for a random time in
      ``[election_ticks, 2 * election_ticks)`` campaigns; a leader that heard from no quorum
      in two checks ``election_ticks`` apart steps down (``check_quorum``).
    * ``heartbeat_ticks``: a leader sends heartbeats this often; must be < election_ticks.
    * ``seed``: the election-timeout jitter; give every node of a cluster its own.
    * ``pre_vote``: campaign first without changing term (thesis §9.6).
    * ``check_quorum``: a leader steps down without a live quorum, and a follower that
      heard from its leader within the election timeout ignores (pre-)votes (thesis §6.2).
    * ``max_append_bytes`` / ``max_append_entries``: the size of one AppendRequest (at
      least one entry is always sent, however large).
    * ``max_inflight_appends`` / ``max_inflight_bytes`` (0: no byte limit): the window of
      unacknowledged appends per follower in REPLICATE state.
    * ``max_apply_bytes``: committed entries handed out per Ready.
    * ``apply_entries``: hand committed entries out in ``Ready.committed_entries``.  A
      partition sets False: it needs the commit offset (the high watermark), not the data
      back, and the core then never reads its log to apply.
    * ``applied``: on restart, the offset the state machine has applied (its snapshot's);
      None: the storage's snapshot point.  Ignored when ``apply_entries`` is False.
    * ``quiesce``: a leader whose group has nothing left to replicate stops ticking and
      heartbeating, and so do its followers (``quiesce.py``); the driver must then tell
      the node which peers are down (``RawNode.set_down_peers``), since a quiet follower
      no longer times out on its own.
    * ``group_salt``: the same number on every node of a group (logd: a hash of its
      name): when the transport loses the leader, the followers stand for election in an
      order they agree on without talking (``Raft.lost_leader``), spread over groups.
    * ``election_backoff``: after each election this node started that brought no
      leader, the random part of its timeout doubles, up to ``2 ** election_backoff``
      times ``election_ticks``: under overload, candidates spread out until one round
      fits between two timeouts (Ethernet's back-off, for elections).
    * ``vote_wait``: a (pre-)candidate whose election is still undecided while a voter
      that is not down (``down_peers``) has not answered waits up to this many election
      timeouts more before it starts another round (0: never, Raft's plain timeout). A
      vote costs an fsync at the candidate and another at the voter, and on a loaded disk
      the two took longer than the timeout: thousands of groups electing at once timed
      out, moved to the next term and started over, round after round (issue 21). Waiting
      longer never endangers safety; a lost request only delays the next round.
    * ``async_writes``: the driver may hold several Readys at once (etcd's asynchronous
      storage writes): ``ready()`` hands out the next plain Ready -- new entries, a moved
      commit, messages -- while earlier ones are still being persisted, and ``advance()``
      takes them back in the order given, each once it is durable (``rawnode.py``).
      Entries count as persisted only then, whatever was written meanwhile.
    * ``vouched_lease`` (0 or 1: off): while the driver vouches for the broker of a
      follower's leader (``RawNode.heard_from``: its frames keep arriving), the follower
      neither campaigns nor grants (pre-)votes until it has heard nothing from the leader
      *in this group* for this many election timeouts (plus its random part) -- a
      CockroachDB-style lease on the broker's liveness. Under overload a leader's
      heartbeats come late while its broker is plainly alive, and followers timing out on
      them re-elected thousands of groups again and again (issue 21). The bound still
      replaces a leader that lost the group on a live broker. Liveness only.
    """

    node_id: int
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    seed: int = 0
    pre_vote: bool = True
    check_quorum: bool = True
    max_append_bytes: int = 1 << 20
    max_append_entries: int = 512
    max_inflight_appends: int = 64
    max_inflight_bytes: int = 0
    max_apply_bytes: int = 64 << 20
    apply_entries: bool = True
    applied: int | None = None
    quiesce: bool = False
    election_backoff: int = 3
    group_salt: int = 0
    vote_wait: int = 0
    async_writes: bool = False
    vouched_lease: int = 0

    def validate(self) -> None:
        if self.node_id < 0:
            raise InvalidConfigError(f"node id {self.node_id} is negative")
        if self.heartbeat_ticks < 1:
            raise InvalidConfigError("heartbeat_ticks must be at least 1")
        if self.election_ticks <= self.heartbeat_ticks:
            raise InvalidConfigError("election_ticks must be larger than heartbeat_ticks")
        if self.max_append_entries < 1 or self.max_inflight_appends < 1:
            raise InvalidConfigError("max_append_entries and max_inflight_appends must be >= 1")
        if not 0 <= self.vote_wait <= 16:
            raise InvalidConfigError("vote_wait must be within [0, 16]")
        if not 0 <= self.vouched_lease <= 16:
            raise InvalidConfigError("vouched_lease must be within [0, 16]")
        if not 0 <= self.election_backoff <= 16:
            raise InvalidConfigError("election_backoff must be within [0, 16]")
        if self.max_append_bytes < 0 or self.max_inflight_bytes < 0 or self.max_apply_bytes < 0:
            raise InvalidConfigError("byte limits must not be negative")
