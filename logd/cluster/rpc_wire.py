"""The framing of the brokers' Raft TCP connections (``--rpc-listen``; sans-I/O, pure).

A connection carries frames one way, caller -> listener: each a 4-byte big-endian length
and that many bytes of a protobuf -- first a ``RaftHello`` each way (the caller's identity,
then the listener's answer), then ``RaftFrame``s, the very messages the gRPC ``Raft`` stream
carries (``codec`` builds and reads them), so nothing above the transport changes. The
listener answers nothing after its hello; a caller reads only to notice the end.

Why not gRPC for these: one HTTP/2 stream write per frame cost a third of a broker's loop
at RF=3 (issue 22, session 7's profile) for framing a length prefix does; Redpanda's
internal RPC port and Kafka's inter-broker listener are plain TCP for the same reason.

:class:`FrameDecoder` takes bytes as they arrive and gives back whole frames; every length
is checked against the bound before anything waits for (or keeps) its bytes, so a peer can
make the decoder hold at most one frame's bound plus a header. Malformed input raises
:class:`~logd.errors.InvalidRequestError` (one line; the connection is then closed).

Thread-safe: pure functions; a decoder belongs to one connection.
"""

from __future__ import annotations

from typing import Final

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from logd.errors import InvalidRequestError
from logd.v1 import cluster_pb2

__all__ = [
    "HEADER_BYTES",
    "MAX_HELLO_BYTES",
    "FrameDecoder",
    "decode_hello",
    "encode_hello",
    "frame",
    "parse_raft_frame",
]

HEADER_BYTES: Final = 4
#: A hello is a cluster id and a node id: anything longer is not one.
MAX_HELLO_BYTES: Final = 1024
#: The most frames one ``feed`` hands back (a bound on a list a peer could make long with
#: empty frames; the rest stay buffered for the next call).
MAX_FRAMES_PER_FEED: Final = 4096


def frame(payload: bytes) -> bytes:
    """``payload`` behind its length prefix."""
    return len(payload).to_bytes(HEADER_BYTES, "big") + payload


class FrameDecoder:
    """Whole frames out of a byte stream; ``limit`` is the largest payload taken (changed
    with :meth:`set_limit`: a hello's bound, then the frames')."""

    __slots__ = ("_buf", "_limit")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self._limit = limit

    def set_limit(self, limit: int) -> None:
        self._limit = limit

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes (possibly none); raises InvalidRequestError when a
        length is past the limit. At most MAX_FRAMES_PER_FEED; call ``feed(b"")`` again to
        take more while it returns that many."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        with memoryview(buf) as view:  # one copy per frame (a bytearray slice is one more)
            while end - pos >= HEADER_BYTES and len(out) < MAX_FRAMES_PER_FEED:
                size = int.from_bytes(view[pos : pos + HEADER_BYTES], "big")
                if size > self._limit:
                    raise InvalidRequestError(
                        f"a frame of {size} bytes is past the limit of {self._limit}"
                    )
                stop = pos + HEADER_BYTES + size
                if stop > end:
                    break
                out.append(bytes(view[pos + HEADER_BYTES : stop]))
                pos = stop
        if pos:  # the view is released: the buffer may shrink
            del buf[:pos]
        return out


def encode_hello(cluster_id: str, node_id: int) -> bytes:
    """A framed ``RaftHello``."""
    hello = cluster_pb2.RaftHello(cluster_id=cluster_id, node_id=node_id)
    return frame(hello.SerializeToString())


def decode_hello(payload: bytes) -> tuple[str, int]:
    """The (cluster id, node id) of a hello's payload; InvalidRequestError if it is none."""
    try:
        hello = cluster_pb2.RaftHello.FromString(payload)
    except DecodeError as exc:
        raise InvalidRequestError(f"not a RaftHello: {exc}") from None
    if hello.node_id < 0:
        raise InvalidRequestError(f"a hello from node {hello.node_id}")
    return hello.cluster_id, hello.node_id


def parse_raft_frame(payload: bytes) -> cluster_pb2.RaftFrame:
    """A ``RaftFrame``; InvalidRequestError when the bytes are not one."""
    try:
        parsed: cluster_pb2.RaftFrame = cluster_pb2.RaftFrame.FromString(payload)
    except DecodeError as exc:
        raise InvalidRequestError(f"not a RaftFrame: {exc}") from None
    return parsed
