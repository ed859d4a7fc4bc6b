"""Concatenated JSON (RFC 7464's cousin, as Confluent's v3 streaming produce uses it): a
sans-I/O splitter (STYLE.md 3) that takes bytes as they arrive and hands back each complete
top-level JSON object's bytes.

:meth:`JsonStream.feed` buffers at most ``max_value_bytes`` of one unfinished value (a
longer one raises :class:`ValueTooLarge`); whitespace between values is skipped; anything
but an object at the top level raises :class:`NotAnObject` (the stream cannot be resynced
after it). The scan is a small state machine over strings, escapes and nesting depth, so a
value is parsed once, when it is whole (``json.loads`` of its slice).

Why not ``json.JSONDecoder.raw_decode`` on the buffer: it cannot tell "incomplete" from
"malformed" without re-parsing the whole buffer on every chunk.

Not thread-safe; owned by one request.
"""

from __future__ import annotations

from typing import Final

__all__ = ["JsonStream", "NotAnObject", "ValueTooLarge"]

_WHITESPACE: Final = b" \t\r\n"
_OPEN: Final = frozenset(b"{[")
_CLOSE: Final = frozenset(b"}]")
_QUOTE: Final = ord('"')
_BACKSLASH: Final = ord("\\")
_BRACE: Final = ord("{")


class ValueTooLarge(ValueError):
    """One value is longer than the splitter may buffer."""


class NotAnObject(ValueError):
    """The stream holds something other than a JSON object at the top level."""


class JsonStream:
    """See the module docstring."""

    __slots__ = ("_buf", "_depth", "_escaped", "_in_string", "_max", "_scanned")

    def __init__(self, max_value_bytes: int) -> None:
        self._max = max_value_bytes
        self._buf = bytearray()
        self._scanned = 0  # how much of _buf the state below describes
        self._depth = 0
        self._in_string = False
        self._escaped = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The complete objects ``data`` finished, in order."""
        self._buf += data
        out: list[bytes] = []
        while True:
            if self._depth == 0 and not self._skip_whitespace():
                break
            end = self._scan()
            if end < 0:
                if len(self._buf) > self._max:
                    raise ValueTooLarge(f"a record longer than {self._max} bytes")
                break
            out.append(bytes(self._buf[:end]))
            del self._buf[:end]
            self._scanned = 0
        return out

    def finish(self) -> None:
        """The stream ended: raises NotAnObject when it ended inside a value."""
        if self._buf.strip(_WHITESPACE):
            raise NotAnObject("the stream ended inside a record")

    def _skip_whitespace(self) -> bool:
        """Drops whitespace before the next value; whether a value starts."""
        stripped = self._buf.lstrip(_WHITESPACE)
        if len(stripped) != len(self._buf):
            self._buf = bytearray(stripped)
        if not self._buf:
            return False
        if self._buf[0] != _BRACE:
            raise NotAnObject(f"expected a JSON object, got {bytes(self._buf[:20])!r}")
        return True

    def _scan(self) -> int:
        """The end of the top-level value (exclusive), or -1 when it is not whole yet."""
        buf = self._buf
        depth, in_string, escaped = self._depth, self._in_string, self._escaped
        i = self._scanned
        n = len(buf)
        while i < n:
            c = buf[i]
            i += 1
            if in_string:
                if escaped:
                    escaped = False
                elif c == _BACKSLASH:
                    escaped = True
                elif c == _QUOTE:
                    in_string = False
            elif c == _QUOTE:
                in_string = True
            elif c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth -= 1
                if depth == 0:
                    self._depth, self._in_string, self._escaped = 0, False, False
                    return i
        self._depth, self._in_string, self._escaped, self._scanned = depth, in_string, escaped, i
        return -1
