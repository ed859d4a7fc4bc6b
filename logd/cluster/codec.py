"""Raft messages to and from ``logd.v1.RaftFrame`` (sans-I/O, pure functions).

A frame carries every message one broker has for another after one pass of its driver,
for every group (the group id travels with each message). Heartbeats and their answers
are the bulk of idle traffic -- one per group per heartbeat tick -- so they are coalesced
into parallel arrays (group, term, commit, and the quiesce flag when any is set): one frame
per broker pair and tick however many groups there are, as Redpanda coalesces them.
Entries keep their bytes as they are (the stored record batch; never decoded or
re-encoded), and a frame is checked against the
bounds a receiver can trust before anything is built from it.

Thread-safe: pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from logd.errors import InvalidRequestError
from logd.v1 import cluster_pb2
from replication import (
    AppendRequest,
    AppendResponse,
    ConfState,
    Entry,
    EntryKind,
    Heartbeat,
    HeartbeatResponse,
    Message,
    Snapshot,
    SnapshotMeta,
    SnapshotRequest,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)

__all__ = [
    "MAX_FRAME_MESSAGES",
    "GroupMessage",
    "decode_frame",
    "decode_losses",
    "encode_frame",
    "message_proto",
]

#: A bound on the items of one frame, far above what a driver pass produces.
MAX_FRAME_MESSAGES: Final = 1_000_000

GroupMessage = tuple[str, Message]

_T = cluster_pb2.RaftMessage
_KINDS: Final = {int(k): k for k in EntryKind}


def _conf_proto(conf: ConfState) -> cluster_pb2.ConfStateProto:
    return cluster_pb2.ConfStateProto(
        voters=sorted(conf.voters),
        voters_outgoing=sorted(conf.voters_outgoing),
        learners=sorted(conf.learners),
        learners_next=sorted(conf.learners_next),
    )


def _conf(p: cluster_pb2.ConfStateProto) -> ConfState:
    return ConfState(
        frozenset(p.voters),
        frozenset(p.voters_outgoing),
        frozenset(p.learners),
        frozenset(p.learners_next),
    )


def message_proto(group: str, m: Message) -> cluster_pb2.RaftMessage:
    """One non-heartbeat message as its protobuf (``frame_encode`` embeds the rare kinds)."""
    match m:
        case AppendRequest():
            return _T(
                group=group,
                type=_T.APPEND,
                term=m.term,
                prev_offset=m.prev_offset,
                prev_term=m.prev_term,
                commit=m.commit,
                entries=[
                    cluster_pb2.RaftEntry(
                        term=e.term,
                        base_offset=e.base_offset,
                        last_offset=e.last_offset,
                        kind=int(e.kind),
                        data=bytes(e.data),
                    )
                    for e in m.entries
                ],
            )
        case AppendResponse():
            return _T(
                group=group,
                type=_T.APPEND_RESPONSE,
                term=m.term,
                prev_offset=m.match_offset,
                reject=m.reject,
                hint_offset=m.hint_offset,
                hint_term=m.hint_term,
            )
        case VoteRequest():
            return _T(
                group=group,
                type=_T.VOTE,
                term=m.term,
                prev_offset=m.last_offset,
                prev_term=m.last_term,
                pre_vote=m.pre_vote,
                transfer=m.transfer,
            )
        case VoteResponse():
            return _T(
                group=group,
                type=_T.VOTE_RESPONSE,
                term=m.term,
                granted=m.granted,
                pre_vote=m.pre_vote,
            )
        case SnapshotRequest():
            meta = m.snapshot.meta
            return _T(
                group=group,
                type=_T.SNAPSHOT,
                term=m.term,
                snapshot_offset=meta.offset,
                snapshot_term=meta.term,
                snapshot_conf=_conf_proto(meta.conf_state),
                snapshot_data=bytes(m.snapshot.data),
            )
        case TimeoutNow():
            return _T(group=group, type=_T.TIMEOUT_NOW, term=m.term)
    raise AssertionError(f"heartbeats are coalesced, not encoded one by one: {m!r}")


def encode_frame(
    src: int,
    dst: int,
    messages: Iterable[GroupMessage],
    losses: Sequence[tuple[str, int]] = (),
) -> cluster_pb2.RaftFrame:
    """One frame of everything ``src`` sends ``dst`` now; heartbeats coalesced. ``losses``:
    (group, last offset) of groups where ``src`` lost acknowledged entries."""
    frame = cluster_pb2.RaftFrame(src=src, dst=dst)
    for group, last in losses:
        frame.lost_groups.append(group)
        frame.lost_last_offsets.append(last)
    out = frame.messages
    hb_groups, hb_terms, hb_commits, hb_quiesce = [], [], [], []
    hr_groups, hr_terms, hr_wake = [], [], []
    for group, m in messages:
        assert m.src == src and m.dst == dst, (src, dst, m)
        if isinstance(m, Heartbeat):
            hb_groups.append(group)
            hb_terms.append(m.term)
            hb_commits.append(m.commit)
            hb_quiesce.append(m.quiesce)
        elif isinstance(m, HeartbeatResponse):
            hr_groups.append(group)
            hr_terms.append(m.term)
            hr_wake.append(m.wake)
        else:
            out.append(message_proto(group, m))
    frame.heartbeat_groups.extend(hb_groups)
    frame.heartbeat_terms.extend(hb_terms)
    frame.heartbeat_commits.extend(hb_commits)
    if any(hb_quiesce):
        frame.heartbeat_quiesce.extend(hb_quiesce)
    frame.heartbeat_response_groups.extend(hr_groups)
    frame.heartbeat_response_terms.extend(hr_terms)
    if any(hr_wake):
        frame.heartbeat_response_wake.extend(hr_wake)
    return frame


def _entries(src: int, items: Sequence[cluster_pb2.RaftEntry]) -> tuple[Entry, ...]:
    entries = []
    for e in items:
        kind = _KINDS.get(e.kind)
        if kind is None:
            raise InvalidRequestError(f"frame from {src}: unknown entry kind {e.kind}")
        entries.append(Entry(e.term, e.base_offset, e.last_offset, kind, e.data))
    return tuple(entries)


def _message(src: int, dst: int, p: cluster_pb2.RaftMessage) -> Message:
    t = p.type
    if t == _T.APPEND:
        entries = _entries(src, p.entries)
        return AppendRequest(p.term, src, dst, p.prev_offset, p.prev_term, entries, p.commit)
    if t == _T.APPEND_RESPONSE:
        return AppendResponse(p.term, src, dst, p.prev_offset, p.reject, p.hint_offset, p.hint_term)
    if t == _T.VOTE:
        return VoteRequest(p.term, src, dst, p.prev_offset, p.prev_term, p.pre_vote, p.transfer)
    if t == _T.VOTE_RESPONSE:
        return VoteResponse(p.term, src, dst, p.granted, p.pre_vote)
    if t == _T.SNAPSHOT:
        meta = SnapshotMeta(p.snapshot_offset, p.snapshot_term, _conf(p.snapshot_conf))
        return SnapshotRequest(p.term, src, dst, Snapshot(meta, p.snapshot_data))
    if t == _T.TIMEOUT_NOW:
        return TimeoutNow(p.term, src, dst)
    raise InvalidRequestError(f"frame from {src}: unknown message type {t}")


def decode_losses(frame: cluster_pb2.RaftFrame) -> list[tuple[str, int]]:
    """The (group, last offset) data-loss reports of a frame."""
    if len(frame.lost_groups) != len(frame.lost_last_offsets):
        raise InvalidRequestError(f"frame from {frame.src}: loss arrays differ in length")
    return list(zip(frame.lost_groups, frame.lost_last_offsets, strict=True))


def decode_frame(frame: cluster_pb2.RaftFrame) -> list[GroupMessage]:
    """The messages of a frame, in order (full messages first, then the heartbeats).

    Raises InvalidRequestError for a frame that breaks the format's rules.
    """
    src, dst = frame.src, frame.dst
    hb = len(frame.heartbeat_groups)
    hr = len(frame.heartbeat_response_groups)
    if len(frame.heartbeat_terms) != hb or len(frame.heartbeat_commits) != hb:
        raise InvalidRequestError(f"frame from {src}: heartbeat arrays differ in length")
    quiesce = frame.heartbeat_quiesce
    if len(quiesce) not in (0, hb):
        raise InvalidRequestError(f"frame from {src}: heartbeat quiesce flags differ in length")
    if len(frame.heartbeat_response_terms) != hr:
        raise InvalidRequestError(f"frame from {src}: heartbeat answer arrays differ in length")
    wake = frame.heartbeat_response_wake
    if len(wake) not in (0, hr):
        raise InvalidRequestError(f"frame from {src}: heartbeat answer wake flags differ in length")
    if len(frame.messages) + hb + hr > MAX_FRAME_MESSAGES:
        raise InvalidRequestError(f"frame from {src} holds too many messages")
    out: list[GroupMessage] = [(p.group, _message(src, dst, p)) for p in frame.messages]
    for i, (group, term, commit) in enumerate(
        zip(frame.heartbeat_groups, frame.heartbeat_terms, frame.heartbeat_commits, strict=True)
    ):
        out.append((group, Heartbeat(term, src, dst, commit, bool(quiesce) and quiesce[i])))
    for i, (group, term) in enumerate(
        zip(frame.heartbeat_response_groups, frame.heartbeat_response_terms, strict=True)
    ):
        out.append((group, HeartbeatResponse(term, src, dst, bool(wake) and wake[i])))
    return out
