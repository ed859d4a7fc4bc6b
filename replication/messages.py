"""Transport-neutral Raft messages: frozen dataclasses that the driver converts to the wire.

Every message names its ``term``, its sender ``src`` and its recipient ``dst`` (node ids).
Heartbeats are kept apart from appends and carry only a term, a commit offset and the
quiesce flag, so a driver can coalesce them per broker pair, as Redpanda does.

Offsets are the log's offsets; an entry covers ``[base_offset, last_offset]``.  Log
matching is checked on ``(prev_offset, prev_term)``: the last offset of the entry before
the first one sent, and its term (Raft §5.3 with offset ranges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from replication.types import Entry, Snapshot

__all__ = [
    "AppendRequest",
    "AppendResponse",
    "Heartbeat",
    "HeartbeatResponse",
    "Message",
    "SnapshotRequest",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
    "describe",
]


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """AppendEntries (Raft §5.3): ``entries`` follow the entry ending at ``prev_offset``."""

    term: int
    src: int
    dst: int
    prev_offset: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """The answer to an AppendRequest or SnapshotRequest.

    Accepted: the follower's log matches the leader's up to ``match_offset``.
    Rejected: ``match_offset`` repeats the rejected ``prev_offset``; the hint says that the
    follower's log has term ``hint_term`` at ``hint_offset`` (the largest offset at or below
    the probe whose term is at most the probe's term), so the leader can skip a whole term
    per round trip (etcd ``findConflictByTerm``; Kafka's diverging epoch).
    """

    term: int
    src: int
    dst: int
    match_offset: int
    reject: bool = False
    hint_offset: int = -1
    hint_term: int = 0


class Heartbeat(NamedTuple):
    """Leader liveness; ``commit`` is never beyond what the follower is known to match.

    ``quiesce``: the leader's last heartbeat before it goes quiet (``quiesce.py``): a
    follower that holds exactly the committed log stops ticking and does not answer.

    A ``NamedTuple``, not a frozen dataclass like the other messages: thousands of groups
    waking at once (a broker lost) make tens of thousands a second, and a tuple is four
    times cheaper to build (as ``Entry``, STYLE.md 12)."""

    term: int
    src: int
    dst: int
    commit: int
    quiesce: bool = False


class HeartbeatResponse(NamedTuple):
    """Proves the follower is alive (check-quorum) and unpauses a probing leader (a
    ``NamedTuple`` for the reason ``Heartbeat`` is one).

    ``wake``: the follower asks a quiet leader to look (it woke, or cannot go quiet as the
    leader's quiesce heartbeat asked: ``quiesce.py``). Without it the answer is only that
    -- an answer to a heartbeat, which a quiet leader whose follower holds its whole log
    sleeps through: it was sent before the leader went quiet."""

    term: int
    src: int
    dst: int
    wake: bool = False


@dataclass(frozen=True, slots=True)
class VoteRequest:
    """RequestVote (Raft §5.2), or a pre-vote (thesis §9.6) when ``pre_vote`` is set.

    A pre-vote carries the term the candidate *would* use (its term + 1) without having
    moved to it.  ``transfer`` marks a campaign started by TimeoutNow (thesis §3.10); such
    a request may disturb a follower that heard from a leader recently.
    """

    term: int
    src: int
    dst: int
    last_offset: int
    last_term: int
    pre_vote: bool = False
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    """A (pre-)vote, granted or not; a grant carries the term of the request."""

    term: int
    src: int
    dst: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """InstallSnapshot (Raft §7).  For a partition the snapshot carries metadata only."""

    term: int
    src: int
    dst: int
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer (thesis §3.10): start an election now, without pre-vote."""

    term: int
    src: int
    dst: int


Message = (
    AppendRequest
    | AppendResponse
    | Heartbeat
    | HeartbeatResponse
    | VoteRequest
    | VoteResponse
    | SnapshotRequest
    | TimeoutNow
)


def _describe_entries(entries: tuple[Entry, ...]) -> str:
    parts = []
    for e in entries:
        kind = "" if e.kind == 0 else f" {e.kind.name}"
        parts.append(f"{e.term}/{e.base_offset}-{e.last_offset}{kind}")
    return "[" + " ".join(parts) + "]"


def describe(m: Message) -> str:
    """One stable line per message, for traces and the interaction scripts."""
    head = f"{m.src}->{m.dst} {type(m).__name__} term={m.term}"
    match m:
        case AppendRequest():
            return (
                f"{head} prev=({m.prev_offset},{m.prev_term}) commit={m.commit} "
                f"entries={_describe_entries(m.entries)}"
            )
        case AppendResponse(reject=True):
            return f"{head} REJECT {m.match_offset} hint=({m.hint_offset},{m.hint_term})"
        case AppendResponse():
            return f"{head} match={m.match_offset}"
        case Heartbeat():
            return f"{head} commit={m.commit}" + (" quiesce" if m.quiesce else "")
        case VoteRequest():
            flags = (" pre" if m.pre_vote else "") + (" transfer" if m.transfer else "")
            return f"{head} last=({m.last_offset},{m.last_term}){flags}"
        case VoteResponse():
            return f"{head} {'pre ' if m.pre_vote else ''}{'granted' if m.granted else 'rejected'}"
        case SnapshotRequest():
            meta = m.snapshot.meta
            return f"{head} snapshot=({meta.offset},{meta.term}) {meta.conf_state}"
        case _:
            return head
