"""The properties the simulator checks after every step (Raft Figure 3, and more).

Every externally visible change of a node goes through its Ready, so the checks hook the
driver loop and stay O(1)-ish per step:

* election safety: at most one leader per term;
* leader append-only: a leader never truncates or rewrites its log during its term;
* log matching: an entry named by (term, last offset) has one base offset, one payload and
  one predecessor term wherever it is written -- by induction, equal entries have equal
  prefixes;
* leader completeness: a new leader holds every entry committed so far;
* state-machine safety: every node applies the same entry (and reaches the same digest) at
  each offset, in order, and snapshots carry the committed state;
* committed entries are never lost or changed: each commit a node reports agrees with the
  committed log seen so far, commits never go back within an incarnation, and when a
  leader commits, the entry is on the *durable* disk of a quorum;
* persistence before send: a vote granted and an append acknowledged are durable when
  the message leaves, and a restarted node still remembers every vote it granted.

Not thread-safe; owned by the simulator.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, NoReturn

from replication import (
    AppendResponse,
    ConfState,
    Entry,
    EntryKind,
    MemoryStorage,
    Message,
    Ready,
    Role,
    Snapshot,
    VoteResponse,
)
from replication.quorum import VoteResult, vote_result
from tests.replication.sim.node import digest_step

if TYPE_CHECKING:
    from tests.replication.sim.node import SimNode
    from tests.replication.sim.simulator import Simulator

__all__ = ["Checker", "Violation"]


class Violation(AssertionError):
    """A safety or liveness property failed."""


class Checker:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.leaders: dict[int, int] = {}  # term -> leader
        self.written: dict[tuple[int, int], tuple[int, int, object, EntryKind]] = {}
        # The committed log as seen so far: parallel lists, one item per entry.
        self.c_bases: list[int] = []
        self.c_entries: list[Entry] = []
        self.c_digests: list[int] = []
        self.commits: dict[int, int] = {}  # node -> commit in this incarnation
        self.leader_tails: dict[int, tuple[int, int, int]] = {}  # node -> (term, off, term)
        self.votes: dict[int, tuple[int, int]] = {}  # node -> (term, candidate) granted
        self.committed_conf = ConfState.of(sim.scenario.voters)  # the latest committed one
        self.checks = 0

    def fail(self, message: str) -> NoReturn:
        raise Violation(message)

    @property
    def max_committed(self) -> int:
        return self.c_entries[-1].last_offset if self.c_entries else -1

    def committed_at(self, offset: int) -> tuple[Entry, int] | None:
        """The committed entry holding ``offset`` and the digest after it."""
        i = bisect_right(self.c_bases, offset) - 1
        if i < 0 or self.c_entries[i].last_offset < offset:
            return None
        return self.c_entries[i], self.c_digests[i]

    # -- hooks -----------------------------------------------------------------------

    def on_ready(self, node: SimNode, rd: Ready) -> None:
        self.checks += 1
        raw = node.raw
        assert raw is not None
        if raw.role is Role.LEADER:
            self._check_leader(node, rd)
        if rd.entries:
            self._register_entries(node, rd)
        last = self.commits.get(node.id, -1)
        if rd.commit < last:
            self.fail(f"node {node.id}: commit went back from {last} to {rd.commit}")
        if rd.commit > last:
            self.commits[node.id] = rd.commit
            self._check_commit(node, rd.commit)

    def _check_leader(self, node: SimNode, rd: Ready) -> None:
        raw = node.raw
        assert raw is not None
        term = raw.term
        leader = self.leaders.setdefault(term, node.id)
        if leader != node.id:
            self.fail(f"election safety: {leader} and {node.id} both lead term {term}")
        tail = self.leader_tails.get(node.id)
        if tail is None or tail[0] != term:
            self._check_completeness(node)
        else:
            _, offset, offset_term = tail
            if raw.term_at(offset) != offset_term or (
                rd.truncate_to is not None and rd.truncate_to <= offset
            ):
                self.fail(f"leader append-only: leader {node.id} lost ({offset},{offset_term})")
        last = raw.last_offset
        last_term = raw.term_at(last)
        assert last_term is not None
        self.leader_tails[node.id] = (term, last, last_term)

    def _check_completeness(self, node: SimNode) -> None:
        raw = node.raw
        assert raw is not None
        top = self.max_committed
        if top < 0:
            return
        found = self.committed_at(top)
        assert found is not None
        status = raw.status()
        if top < status.first_offset - 1:
            return  # behind a snapshot, which the snapshot checks vouch for
        if raw.term_at(top) != found[0].term:
            self.fail(
                f"leader completeness: new leader {node.id} of term {raw.term} lacks "
                f"committed ({top},{found[0].term}); it has term {raw.term_at(top)}"
            )

    def _register_entries(self, node: SimNode, rd: Ready) -> None:
        raw = node.raw
        assert raw is not None
        base = rd.entries[0].base_offset
        if rd.snapshot is not None and rd.snapshot.meta.offset == base - 1:
            prev_term = rd.snapshot.meta.term
        else:
            prev_term = node.disk.volatile.term_at(base - 1)
        for e in rd.entries:
            if e.term > raw.term:
                self.fail(f"node {node.id} writes an entry of term {e.term} in term {raw.term}")
            if e.term < prev_term:
                self.fail(f"node {node.id}: term goes down along the log at {e.base_offset}")
            value = (e.base_offset, prev_term, e.data, e.kind)
            known = self.written.setdefault((e.term, e.last_offset), value)
            if known != value:
                self.fail(
                    f"log matching: entry ({e.term},{e.last_offset}) written by {node.id} as "
                    f"{value[:2]} but elsewhere as {known[:2]} (or another payload)"
                )
            prev_term = e.term

    def _check_commit(self, node: SimNode, commit: int) -> None:
        raw = node.raw
        assert raw is not None
        term = raw.term_at(commit)
        if term is None:
            self.fail(f"node {node.id} commits {commit} outside its log")
        top = self.max_committed
        if commit <= top:
            found = self.committed_at(commit)
            if found is None or found[0].term != term or found[0].last_offset != commit:
                self.fail(f"committed entry changed: node {node.id} has term {term} at {commit}")
            return
        if top >= 0 and raw.term_at(top) != self.c_entries[-1].term:
            self.fail(f"node {node.id} commits {commit} but differs at committed {top}")
        entries = raw._raft.log.entries(top + 1, commit, 1 << 62)
        digest = self.c_digests[-1] if self.c_digests else 0
        for e in entries:
            digest = digest_step(digest, e)
            self.c_bases.append(e.base_offset)
            self.c_entries.append(e)
            self.c_digests.append(digest)
            if e.kind == EntryKind.CONF_CHANGE:
                self.committed_conf = ConfState.decode(e.data)
        if raw.role is Role.LEADER:
            self._check_durable_quorum(node, commit, term)

    def _check_durable_quorum(self, leader: SimNode, commit: int, term: int) -> None:
        raw = leader.raw
        assert raw is not None
        durable = {n.id: _holds(n.disk.durable, commit, term) for n in self.sim.nodes.values()}
        for conf in (raw.conf, raw.conf_state_at(commit)):
            if vote_result(conf, durable) is VoteResult.WON:
                return
        self.fail(
            f"leader {leader.id} committed ({commit},{term}) but it is durable only on "
            f"{sorted(k for k, v in durable.items() if v)} of {raw.conf}"
        )

    def on_send(self, node: SimNode, m: Message) -> None:
        """A message leaves: whatever it promises must be durable by now."""
        durable = node.disk.durable
        if isinstance(m, VoteResponse) and m.granted and not m.pre_vote:
            # Durable: that vote, or a later term (which forbids voting in this one).
            hs = durable.hard_state
            if hs.term < m.term or (hs.term == m.term and hs.vote != m.dst):
                self.fail(f"node {node.id} grants a vote that is not durable: {hs} vs {m}")
            if m.term >= self.votes.get(node.id, (-1, -1))[0]:
                self.votes[node.id] = (m.term, m.dst)
        elif isinstance(m, AppendResponse) and not m.reject:
            volatile = node.disk.volatile
            if m.match_offset > volatile.last_offset():
                self.fail(f"node {node.id} acknowledges {m.match_offset} it has not written")
            if m.match_offset >= volatile.first_offset() - 1:
                term = volatile.term_at(m.match_offset)
                if not _holds(durable, m.match_offset, term):
                    self.fail(f"node {node.id} acknowledges {m.match_offset} before it is durable")

    def on_crash(self, node: SimNode) -> None:
        self.commits.pop(node.id, None)
        self.leader_tails.pop(node.id, None)

    def on_restart(self, node: SimNode) -> None:
        granted = self.votes.get(node.id)
        hs = node.disk.durable.hard_state
        if granted is not None:
            term, candidate = granted
            if hs.term < term or (hs.term == term and hs.vote != candidate):
                self.fail(f"node {node.id} restarts with {hs}, forgetting its vote {granted}")

    def on_apply(self, node: SimNode, entry: Entry, digest: int) -> None:
        found = self.committed_at(entry.last_offset)
        if found is None:
            self.fail(f"node {node.id} applies {entry.last_offset}, beyond the committed log")
        committed, committed_digest = found
        if committed != entry:
            self.fail(f"state machine safety: node {node.id} applies {entry} != {committed}")
        if digest != committed_digest:
            self.fail(f"state machine safety: node {node.id} digest differs at {entry.last_offset}")

    def on_app_state(self, node: SimNode, offset: int, digest: int) -> None:
        if offset < 0:
            return
        found = self.committed_at(offset)
        if found is None or found[0].last_offset != offset or found[1] != digest:
            self.fail(
                f"node {node.id} holds a snapshot at {offset} that is not the committed state"
            )

    def on_restore(self, node: SimNode, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        found = self.committed_at(meta.offset)
        if found is None or found[0].term != meta.term or found[0].last_offset != meta.offset:
            self.fail(
                f"node {node.id} restores a snapshot ({meta.offset},{meta.term}) not committed"
            )


def _holds(storage: MemoryStorage, offset: int, term: int) -> bool:
    """Does this (durable) log hold the entry ending at (offset, term), or a snapshot past it?"""
    first = storage.first_offset()
    if offset < first - 1:
        return True
    if offset > storage.last_offset():
        return False
    return storage.term_at(offset) == term


def conf_members(conf: ConfState) -> frozenset[int]:
    return conf.members()
