"""Frames: every message kind round-trips; heartbeats of many groups travel coalesced."""

from __future__ import annotations

import pytest

from logd.cluster.codec import decode_frame, decode_losses, encode_frame
from logd.cluster.transport import MAX_FRAME_BYTES, split
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
    Snapshot,
    SnapshotMeta,
    SnapshotRequest,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)

MESSAGES = [
    ("a-0", AppendRequest(3, 1, 2, 9, 2, (Entry(3, 10, 14, EntryKind.NORMAL, b"batch"),
                                          Entry(3, 15, 15, EntryKind.CONF_CHANGE, b"c")), 8)),
    ("a-0", AppendResponse(3, 1, 2, 14)),
    ("b-1", AppendResponse(3, 1, 2, 9, True, 7, 2)),
    ("b-1", VoteRequest(4, 1, 2, 20, 3, pre_vote=True, transfer=False)),
    ("c-2", VoteResponse(4, 1, 2, True, pre_vote=True)),
    ("c-2", SnapshotRequest(5, 1, 2, Snapshot(SnapshotMeta(99, 4, ConfState.of([1, 2])), b"s"))),
    ("d-3", TimeoutNow(5, 1, 2)),
]  # fmt: skip


def _wire(frame: cluster_pb2.RaftFrame) -> cluster_pb2.RaftFrame:
    return cluster_pb2.RaftFrame.FromString(frame.SerializeToString())


def test_every_message_kind_round_trips() -> None:
    assert decode_frame(_wire(encode_frame(1, 2, MESSAGES))) == MESSAGES


def test_heartbeats_of_many_groups_are_one_frame_of_parallel_arrays() -> None:
    beats = [(f"t-{i}", Heartbeat(7, 1, 2, i)) for i in range(1000)]
    answers = [(f"t-{i}", HeartbeatResponse(7, 1, 2)) for i in range(1000)]
    frame = encode_frame(1, 2, beats + answers)
    assert len(frame.messages) == 0 and len(frame.heartbeat_groups) == 1000
    assert decode_frame(_wire(frame)) == beats + answers
    # Small: about the group's name and a few varint bytes per item, no per-message envelope.
    assert frame.ByteSize() < 2000 * 12


def test_the_quiesce_flag_travels_only_when_some_heartbeat_carries_it() -> None:
    beats = [(f"t-{i}", Heartbeat(7, 1, 2, i, quiesce=i % 2 == 0)) for i in range(4)]
    frame = encode_frame(1, 2, beats)
    assert list(frame.heartbeat_quiesce) == [True, False, True, False]
    assert decode_frame(_wire(frame)) == beats
    assert not encode_frame(1, 2, [("g", Heartbeat(7, 1, 2, 0))]).heartbeat_quiesce


def test_the_wake_flag_of_answers_travels_only_when_some_answer_carries_it() -> None:
    answers = [(f"t-{i}", HeartbeatResponse(7, 1, 2, wake=i == 1)) for i in range(3)]
    frame = encode_frame(1, 2, answers)
    assert list(frame.heartbeat_response_wake) == [False, True, False]
    assert decode_frame(_wire(frame)) == answers
    assert not encode_frame(1, 2, [("g", HeartbeatResponse(7, 1, 2))]).heartbeat_response_wake


def test_data_loss_reports_travel_beside_the_messages() -> None:
    frame = encode_frame(1, 2, MESSAGES[:1], [("a-0", 41)])
    assert decode_losses(_wire(frame)) == [("a-0", 41)]


@pytest.mark.parametrize(
    "field",
    [
        "heartbeat_terms",
        "heartbeat_commits",
        "lost_last_offsets",
        "heartbeat_quiesce",
        "heartbeat_response_terms",
        "heartbeat_response_wake",
    ],
)
def test_arrays_of_different_lengths_are_refused(field: str) -> None:
    messages = [("g", Heartbeat(1, 1, 2, 0, quiesce=True)), ("g", HeartbeatResponse(1, 1, 2, True))]
    frame = encode_frame(1, 2, messages, [("g", 1)])
    getattr(frame, field).append(5)
    with pytest.raises(InvalidRequestError):
        decode_frame(frame)
        decode_losses(frame)


def test_unknown_kinds_and_types_are_refused() -> None:
    frame = encode_frame(1, 2, MESSAGES[:1])
    frame.messages[0].entries[0].kind = 9
    with pytest.raises(InvalidRequestError, match="entry kind"):
        decode_frame(frame)
    frame = encode_frame(1, 2, MESSAGES[:1])
    frame.messages[0].type = 42  # type: ignore[assignment]
    with pytest.raises(InvalidRequestError, match="message type"):
        decode_frame(frame)


def test_large_appends_are_cut_into_frames_of_bounded_size() -> None:
    big = b"x" * (MAX_FRAME_BYTES // 2 + 1)
    appends = [
        (
            f"g-{i}",
            AppendRequest(1, 1, 2, i, 1, (Entry(1, i + 1, i + 1, EntryKind.NORMAL, big),), 0),
        )
        for i in range(5)
    ]
    chunks = list(split(appends))
    assert [len(c) for c in chunks] == [1, 1, 1, 1, 1]
    assert [m for c in chunks for m in c] == appends
