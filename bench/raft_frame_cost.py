"""CPU per Raft frame, protobuf's encoder against the hand-written one (issue 22, RF=3).

``python -m bench.raft_frame_cost`` -- frames shaped as a leader and its followers send them
at RF=3 (100 B records: one 170-byte batch per entry): the old path (``codec.encode_frame``,
``SerializeToString``, the link's length prefix joined in front) against
``frame_encode.encode_frame_bytes`` with the prefix written in place. Process time,
interleaved, the best of 25 rounds of 1,000 frames each (robust to a shared machine). The
two must give the same bytes; it says so or fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from logd.cluster.codec import GroupMessage, encode_frame
from logd.cluster.frame_encode import HEADER_ROOM, encode_frame_bytes
from replication import AppendRequest, AppendResponse, Entry, EntryKind, Heartbeat

__all__ = ["main"]

_BATCH = bytearray(b"r" * 170)


def _append(p: int, entries: int = 1) -> GroupMessage:
    return (f"t-{p}", AppendRequest(4, 1, 2, 1_000_000, 4, tuple(
        Entry(4, 1_000_001 + i, 1_000_001 + i, EntryKind.NORMAL, memoryview(_BATCH))
        for i in range(entries)), 999_999))  # fmt: skip


def _ack(p: int) -> GroupMessage:
    return (f"t-{p}", AppendResponse(4, 1, 2, 1_000_000 + p))


SHAPES: dict[str, list[GroupMessage]] = {
    "1 append, 1 entry": [_append(0)],
    "1 append, 4 entries": [_append(0, 4)],
    "4 appends": [_append(p) for p in range(4)],
    "1 ack": [_ack(0)],
    "4 acks": [_ack(p) for p in range(4)],
    "2 heartbeats": [("a", Heartbeat(4, 1, 2, 5)), ("b", Heartbeat(4, 1, 2, 5))],
}


def _protobuf(messages: list[GroupMessage]) -> bytes:
    payload = encode_frame(1, 2, messages).SerializeToString()
    return len(payload).to_bytes(4, "big") + payload


def _by_hand(messages: list[GroupMessage]) -> bytearray:
    frame = encode_frame_bytes(1, 2, messages)
    frame[:HEADER_ROOM] = (len(frame) - HEADER_ROOM).to_bytes(HEADER_ROOM, "big")
    return frame


def _best(fns: list[Callable[[], object]], rounds: int = 25, n: int = 1000) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t = time.process_time()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (time.process_time() - t) / n * 1e6)
    return best


def main() -> None:
    print("| frame | protobuf us | by hand us | ratio |\n| --- | ---: | ---: | ---: |")
    for name, messages in SHAPES.items():
        assert bytes(_protobuf(messages)) == bytes(_by_hand(messages)), name
        old, new = _best([lambda m=messages: _protobuf(m), lambda m=messages: _by_hand(m)])
        print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.2f} |")


if __name__ == "__main__":
    main()
