"""A log's segments as a sorted map from base offset to segment (Kafka's ``LogSegments``).

Python has no sorted map in the standard library; a sorted list of base offsets beside a
dict is enough: lookups bisect, rolls append at the end, retention removes at the front,
and a log holds tens to hundreds of segments, not millions.

Not thread-safe: owned by one log and used under its lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["HasBaseOffset", "Segments"]


class HasBaseOffset(Protocol):
    @property
    def base_offset(self) -> int: ...


S = TypeVar("S", bound=HasBaseOffset)


class Segments(Generic[S]):
    """Segments keyed by base offset, iterated in offset order."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._by_base: dict[int, S] = {}

    def __len__(self) -> int:
        return len(self._bases)

    def __iter__(self) -> Iterator[S]:
        return (self._by_base[base] for base in list(self._bases))

    def add(self, segment: S) -> None:
        base = segment.base_offset
        assert base not in self._by_base, base
        bisect.insort(self._bases, base)
        self._by_base[base] = segment

    def remove(self, segment: S) -> None:
        base = segment.base_offset
        assert self._by_base.get(base) is segment, base
        del self._by_base[base]
        self._bases.pop(bisect.bisect_left(self._bases, base))

    def first(self) -> S:
        return self._by_base[self._bases[0]]

    def last(self) -> S:
        return self._by_base[self._bases[-1]]

    def floor(self, offset: int) -> S | None:
        """The segment with the largest base offset ≤ ``offset``."""
        slot = bisect.bisect_right(self._bases, offset) - 1
        return self._by_base[self._bases[slot]] if slot >= 0 else None

    def higher(self, offset: int) -> S | None:
        """The segment with the smallest base offset > ``offset``."""
        slot = bisect.bisect_right(self._bases, offset)
        return self._by_base[self._bases[slot]] if slot < len(self._bases) else None

    def from_offset(self, offset: int) -> list[S]:
        """The segment holding ``offset`` (its floor) and every later one."""
        slot = max(bisect.bisect_right(self._bases, offset) - 1, 0)
        return [self._by_base[base] for base in self._bases[slot:]]
