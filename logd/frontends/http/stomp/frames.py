"""STOMP 1.2 frames: a sans-I/O parser (bytes in as they arrive, frames out) and the encoder.

Grammar (stomp.github.io/stomp-specification-1.2.html): ``COMMAND EOL *(name:value EOL) EOL
body NUL *EOL``, EOL being LF or CR LF; bare EOLs between frames are heart-beats. A header
named twice keeps its first value. Header names and values are escaped (``\\r \\n \\c \\\\``;
any other escape is a fatal error) except in CONNECT and CONNECTED frames, as 1.2 says.
A body runs to ``content-length`` when the header is there, else to the first NUL.

Limits: a frame (command, headers and body) longer than ``max_frame_bytes`` raises
:class:`FrameTooLarge` as soon as that is known (a ``content-length`` past it: at once, before
the body is read); at most ``MAX_HEADERS`` headers. Nothing else is buffered.

Why not a library: stomp.py's frame code is a client's (no limits, whole frames only) and no
maintained server-side parser exists on PyPI; this one is small and fuzzed
(tests/frontends/http/test_stomp_frames.py).

Pure; one parser per connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Final

__all__ = [
    "CLIENT_COMMANDS",
    "MAX_HEADERS",
    "Frame",
    "FrameError",
    "FrameParser",
    "FrameTooLarge",
    "encode",
]

MAX_HEADERS: Final = 128
CLIENT_COMMANDS: Final = frozenset({
    "CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT",
    "ABORT", "DISCONNECT",
})  # fmt: skip
_UNESCAPED: Final = frozenset({"CONNECT", "CONNECTED"})
_ESCAPES: Final = {"r": "\r", "n": "\n", "c": ":", "\\": "\\"}
_ENCODE: Final = str.maketrans({"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"})


class FrameError(ValueError):
    """Bytes that are not a STOMP frame: the connection gets an ERROR frame and is closed."""


class FrameTooLarge(FrameError):
    """A frame longer than the connection allows."""


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    command: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``."""
        for key, value in self.headers:
            if key == name:
                return value
        return default


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                raise FrameError(f"undefined escape \\{nxt} in a header")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _header_end(buf: bytearray, limit: int) -> tuple[int, int]:
    """(end of the header block, start of the body) or (-1, -1) when not there yet."""
    lf = buf.find(b"\n\n", 0, limit)
    crlf = buf.find(b"\n\r\n", 0, limit)
    if lf < 0 and crlf < 0:
        return -1, -1
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 3
    return lf, lf + 2


def _parse_head(block: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("a frame's command and headers must be UTF-8") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    command = lines[0]
    if command not in CLIENT_COMMANDS and command not in {"CONNECTED", "MESSAGE", "RECEIPT",
                                                          "ERROR"}:  # fmt: skip
        raise FrameError(f"unknown command {command[:40]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise FrameError(f"more than {MAX_HEADERS} headers")
    escaped = command not in _UNESCAPED
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise FrameError(f"a header line without a colon: {line[:40]!r}")
        if escaped:
            name, value = _unescape(name), _unescape(value)
        headers.append((name, value))
    return command, tuple(headers)


class FrameParser:
    """See the module docstring. :meth:`feed` answers the frames completed, and counts the
    heart-beats seen (:attr:`heartbeats`)."""

    __slots__ = ("_buf", "_head", "_max", "heartbeats")

    def __init__(self, max_frame_bytes: int) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        #: the parsed head of the frame whose body is awaited, with its body's start and size
        self._head: tuple[str, tuple[tuple[str, str], ...], int, int | None] | None = None
        self.heartbeats = 0

    @property
    def mid_frame(self) -> bool:
        """Part of a frame waits for the rest."""
        return bool(self._buf) or self._head is not None

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while (frame := self._next()) is not None:
            out.append(frame)
        return out

    def _next(self) -> Frame | None:
        if self._head is None:
            self._skip_eols()
            if not self._buf:
                return None
            end, body_start = _header_end(self._buf, self._max + 3)
            if end < 0:
                if len(self._buf) > self._max:
                    raise FrameTooLarge(f"a frame's headers longer than {self._max} bytes")
                return None
            command, headers = _parse_head(bytes(self._buf[:end]))
            self._head = (command, headers, body_start, _content_length(headers, self._max))
        command, headers, start, length = self._head
        if length is not None:
            if start + length > self._max:
                raise FrameTooLarge(f"a frame longer than {self._max} bytes")
            if len(self._buf) < start + length + 1:
                return None
            if self._buf[start + length] != 0:
                raise FrameError("content-length does not end at a NUL")
            stop = start + length
        else:
            stop = self._buf.find(b"\0", start)
            if stop < 0:
                if len(self._buf) > self._max:
                    raise FrameTooLarge(f"a frame longer than {self._max} bytes")
                return None
        if stop > self._max:
            raise FrameTooLarge(f"a frame longer than {self._max} bytes")
        body = bytes(self._buf[start:stop])
        del self._buf[: stop + 1]
        self._head = None
        return Frame(command, headers, body)

    def _skip_eols(self) -> None:
        i = 0
        n = len(self._buf)
        while i < n and self._buf[i] in (10, 13):
            if self._buf[i] == 10:
                self.heartbeats += 1
            i += 1
        if i:
            del self._buf[:i]


def _content_length(headers: Iterable[tuple[str, str]], limit: int) -> int | None:
    for name, value in headers:
        if name == "content-length":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise FrameError(f"content-length {value[:20]!r} is not a size")
            size = int(value)
            if size > limit:
                raise FrameTooLarge(f"a body of {size} bytes is over the limit of {limit}")
            return size
    return None


def encode(command: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """One frame, with ``content-length`` added when a body is there."""
    escape = command not in _UNESCAPED
    lines = [command]
    for name, value in headers:
        if escape:
            lines.append(f"{name.translate(_ENCODE)}:{value.translate(_ENCODE)}")
        else:
            lines.append(f"{name}:{value}")
    if body:
        lines.append(f"content-length:{len(body)}")
    return ("\n".join(lines) + "\n\n").encode() + body + b"\0"
