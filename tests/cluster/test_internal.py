"""The internal service's handler: which ends of a peer's Raft streams are lost contact."""

from __future__ import annotations

from typing import Any

from logd.cluster.internal import ClusterHandler, FaultState
from logd.v1 import cluster_pb2


async def _unused(request: Any) -> Any:
    raise AssertionError("not called")


def handler(events: list[tuple[str, int]]) -> ClusterHandler:
    return ClusterHandler(
        lambda messages: None,
        _unused,
        _unused,
        _unused,
        FaultState(),
        fault_injection=False,
        peer_connected=lambda peer: events.append(("connected", peer)),
        peer_lost=lambda peer: events.append(("lost", peer)),
    )


def test_a_restarted_peers_old_stream_ending_after_its_new_one_opened_is_not_lost_contact() -> None:
    events: list[tuple[str, int]] = []
    h = handler(events)
    frame = cluster_pb2.RaftFrame(src=2, dst=0)
    h.raft_frame(frame, first=True)  # the old stream
    h.raft_frame(frame, first=True)  # the restarted peer's new one
    h.raft_frame(frame, first=False)
    h.raft_stream_ended(2)  # the old one's end, seen late
    assert events == [("connected", 2), ("connected", 2)]
    h.raft_stream_ended(2)  # now the last one ends: the peer is gone
    assert events[-1] == ("lost", 2)
    h.raft_frame(frame, first=True)
    h.raft_stream_ended(2)
    assert events[-2:] == [("connected", 2), ("lost", 2)]
