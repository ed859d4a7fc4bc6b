"""Kafka's checkpoint text format, sans-I/O: ``version``, ``count``, then one entry a line.

Kafka keeps ``leader-epoch-checkpoint`` and ``recovery-point-offset-checkpoint`` in this
shape (``CheckpointFile.java``)::

    0
    2
    3 0
    5 1200

Each entry is a fixed number of integers separated by one space.  Decoding is strict: any
deviation (wrong version, a count that disagrees, a stray token, a non-integer) yields None,
and the caller rebuilds the data from the segments rather than trusting half a file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = ["VERSION", "decode", "encode"]

VERSION: Final = 0
_INT: Final = re.compile(r"-?[0-9]{1,19}")
#: An honest checkpoint never holds this many entries; a bigger count is garbage.
_MAX_ENTRIES: Final = 1 << 20


def encode(entries: Sequence[Sequence[int]]) -> bytes:
    """The file content for ``entries`` (each a tuple of ints)."""
    lines = [str(VERSION), str(len(entries))]
    lines.extend(" ".join(str(value) for value in entry) for entry in entries)
    return ("\n".join(lines) + "\n").encode("ascii")


def decode(data: bytes, width: int) -> list[tuple[int, ...]] | None:
    """The entries of a checkpoint whose entries hold ``width`` integers, or None if corrupt."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n"):
        return None  # torn write: the last line never completed
    lines = text[:-1].split("\n")
    if len(lines) < 2 or lines[0] != str(VERSION) or not _INT.fullmatch(lines[1]):
        return None
    count = int(lines[1])
    if count < 0 or count > _MAX_ENTRIES or len(lines) != count + 2:
        return None
    entries: list[tuple[int, ...]] = []
    for line in lines[2:]:
        tokens = line.split(" ")
        if len(tokens) != width or not all(_INT.fullmatch(token) for token in tokens):
            return None
        entries.append(tuple(int(token) for token in tokens))
    return entries
