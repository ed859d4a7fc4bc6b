"""Kafka's framing, sans-I/O (STYLE.md 3; h11's ``receive_data``/``next_event``).

Every Kafka request and response is a 4-byte big-endian size followed by that many bytes.
:class:`FrameDecoder` takes bytes as they arrive (:meth:`~FrameDecoder.feed`) and hands out
whole frames (:meth:`~FrameDecoder.next_frame`), or :data:`NEED_DATA`. The size is checked
against ``socket.request.max.bytes`` as soon as its 4 bytes are in, before anything of the
claimed size is allocated (CVE-2022-34917): the buffer only ever holds bytes that arrived.

Ownership: one decoder per connection, owned by that connection; not thread-safe.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from typing import Final

from logd.errors import InvalidRequestError

__all__ = [
    "NEED_DATA",
    "FrameDecoder",
    "FrameTooLargeError",
    "NeedData",
    "frame",
]

_SIZE: Final = struct.Struct(">i")
#: Kafka's ``socket.request.max.bytes`` default (100 MiB).
DEFAULT_MAX_FRAME_BYTES: Final = 100 * 1024 * 1024
#: Reads shorter than this are gathered into one chunk of up to this size (FrameDecoder).
_GATHER: Final = 16 * 1024


class NeedData(enum.Enum):
    """Sentinel: no whole frame buffered yet."""

    NEED_DATA = enum.auto()


NEED_DATA: Final = NeedData.NEED_DATA


class FrameTooLargeError(InvalidRequestError):
    """A size prefix above the limit, or negative (Kafka's InvalidReceiveException): the
    connection is closed, as Kafka closes it."""


class FrameDecoder:
    """Cuts a byte stream into frames of at most ``max_frame_bytes``.

    Invariant: ``buffered`` never exceeds what was fed; nothing is allocated from a size
    prefix. The chunks fed are kept as they came (views of ``bytes``, never copied into a
    growing buffer) and a frame's bytes are copied once, joined when it is complete: a
    1 MiB Produce arrives in dozens of reads, which a bytearray buffer copied in, grew
    and copied out again (issue 22). A partly used chunk stays referenced until its last
    byte is handed out: at most one read's worth beyond ``buffered``. Small reads are
    gathered into one bytearray first (up to :data:`_GATHER` bytes): a peer trickling a
    frame a byte per segment would otherwise cost a memoryview (~200 bytes) per byte.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes must be positive, not {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._chunks: deque[memoryview] = deque()
        self._small = bytearray()  # small reads gathered, not yet a chunk
        self._size = 0  # bytes in _chunks and _small
        self._need = -1  # the size of the frame being read, once its prefix is taken
        self._closed = False

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as a frame."""
        return self._size + (4 if self._need >= 0 else 0)

    @property
    def mid_frame(self) -> bool:
        """True while part of a frame has arrived (a size prefix or some of its body)."""
        return self._need >= 0 or self._size > 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise RuntimeError("feed() after a framing error")
        if not data:
            return
        self._size += len(data)
        if len(data) < _GATHER:
            self._small += data
            if len(self._small) >= _GATHER:
                self._gathered()
            return
        self._gathered()
        # Kept, not copied: bytes cannot change under us; anything else is copied once.
        self._chunks.append(memoryview(data if type(data) is bytes else bytes(data)))

    def _gathered(self) -> None:
        """The small reads gathered so far become one chunk, after the chunks before them."""
        if self._small:
            self._chunks.append(memoryview(bytes(self._small)))
            self._small.clear()

    def next_frame(self) -> bytes | NeedData:
        """The next whole frame (without its size prefix), or :data:`NEED_DATA`.

        Raises :class:`FrameTooLargeError` for a size that is negative or above the limit;
        the decoder is then unusable (the caller closes the connection).
        """
        if self._need < 0:
            if self._size < 4:
                return NEED_DATA
            (size,) = _SIZE.unpack(self._take(4))
            if size < 0 or size > self.max_frame_bytes:
                self._closed = True
                self._chunks.clear()
                self._small.clear()
                self._size = 0
                raise FrameTooLargeError(
                    f"request size {size} is outside 0..{self.max_frame_bytes} "
                    "(socket.request.max.bytes)"
                )
            self._need = size
        if self._size < self._need:
            return NEED_DATA
        data = self._take(self._need)
        self._need = -1
        return data

    def _take(self, n: int) -> bytes:
        """The first ``n`` buffered bytes (``n <= self._size``), removed: one copy."""
        self._gathered()
        chunks = self._chunks
        self._size -= n
        if n == 0:
            return b""
        first = chunks[0]
        if len(first) >= n:  # within one read: every small frame, and most prefixes
            if len(first) == n:
                chunks.popleft()
            else:
                chunks[0] = first[n:]
            return first[:n].tobytes()
        parts: list[memoryview] = []
        left = n
        while left:
            chunk = chunks[0]
            if len(chunk) <= left:
                parts.append(chunks.popleft())
                left -= len(chunk)
            else:
                parts.append(chunk[:left])
                chunks[0] = chunk[left:]
                left = 0
        return b"".join(parts)


def frame(*parts: bytes | bytearray | memoryview) -> list[bytes | bytearray | memoryview]:
    """The size prefix and the parts of one outgoing frame, ready for ``writelines``
    (the parts are not copied: a fetch answer's record bytes go out as stored)."""
    size = sum(len(p) for p in parts)
    return [_SIZE.pack(size), *parts]
