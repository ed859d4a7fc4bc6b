"""Which partitions a consumer reads and where it stands in each (Kafka's SubscriptionState).

Per assigned partition a :class:`PartitionState` holds:

* ``position`` -- the next offset to hand to the application (advanced by the record reader
  on the application's thread, a plain int write);
* ``fetch_offset`` -- where the next fetch starts (the fetcher, on the event loop), ahead
  of ``position`` by what is buffered;
* ``epoch`` -- bumped by every seek, so fetched data issued before it is recognised and
  dropped (Kafka compares the fetch offset with the position; an epoch also catches a seek
  back to the same offset);
* ``reset`` -- a pending reset (earliest, latest, or a timestamp) resolved with ListOffsets
  before the partition is fetched again;
* ``paused``, and the last high watermark / log start offset a fetch reported.

Groups (issue 6) plug in here: ``assign`` is what a rebalance callback calls with the
partitions it got, and committed offsets arrive through ``seek``.

Thread-safety: mutations of the assignment and seeks take ``self.lock``; the per-record
``position`` write happens without it (one writer: the application's thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Final

from logd.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    TopicPartition,
)
from logd.errors import InvalidRequestError

__all__ = [
    "RESET_EARLIEST",
    "RESET_ERROR",
    "RESET_LATEST",
    "PartitionState",
    "SubscriptionState",
    "check_partition",
]

#: ``PartitionState.reset`` values; a value >= 0 is a timestamp to look up.
RESET_EARLIEST: Final = OFFSET_BEGINNING
RESET_LATEST: Final = OFFSET_END
#: A partition with no offset to start from under auto_offset_reset="error".
RESET_ERROR: Final = -3


class PartitionState:
    """Where a consumer stands in one partition. See the module docstring."""

    __slots__ = ("epoch", "fetch_offset", "high_watermark", "log_start_offset", "partition",
                 "paused", "position", "reset", "topic")  # fmt: skip

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.position = -1
        self.fetch_offset = -1
        self.epoch = 0
        self.reset: int | None = None
        self.paused = False
        self.high_watermark = -1
        self.log_start_offset = -1

    @property
    def fetchable(self) -> bool:
        return not self.paused and self.reset is None and self.fetch_offset >= 0

    def seek(self, offset: int, default_reset: int) -> None:
        """Move to ``offset`` (or a sentinel); drops whatever was fetched before."""
        self.epoch += 1
        if offset >= 0:
            self.position = self.fetch_offset = offset
            self.reset = None
        else:
            self.position = self.fetch_offset = -1
            self.reset = {
                OFFSET_BEGINNING: RESET_EARLIEST,
                OFFSET_END: RESET_LATEST,
            }.get(offset, default_reset)

    def __repr__(self) -> str:
        return f"PartitionState({self.topic}-{self.partition} at {self.position})"


def check_partition(tp: object, *, offset_required: bool = False) -> TopicPartition:
    """``tp`` as a TopicPartition, or InvalidRequestError in one line."""
    if not isinstance(tp, TopicPartition):
        raise InvalidRequestError(f"expected a TopicPartition, got {tp!r}")
    if not isinstance(tp.topic, str) or not tp.topic:
        raise InvalidRequestError(f"a topic name must be a non-empty str, got {tp.topic!r}")
    if isinstance(tp.partition, bool) or not isinstance(tp.partition, int) or tp.partition < 0:
        raise InvalidRequestError(f"partition must be an int >= 0, got {tp.partition!r}")
    offset = tp.offset
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise InvalidRequestError(f"offset must be an int, got {offset!r}")
    if offset < 0 and offset not in (OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED):
        raise InvalidRequestError(
            f"offset {offset} is neither >= 0 nor OFFSET_BEGINNING (-2), OFFSET_END (-1) or "
            f"OFFSET_INVALID (-1001)"
        )
    if offset_required and offset < 0 and offset not in (OFFSET_BEGINNING, OFFSET_END):
        raise InvalidRequestError(
            f"seek needs an offset, got {offset} for {tp.topic}/{tp.partition}"
        )
    return tp


class SubscriptionState:
    """The assignment of one consumer. Thread-safe for the operations it documents."""

    def __init__(self, default_reset: int | None) -> None:
        """``default_reset``: RESET_EARLIEST, RESET_LATEST, or None for "error"."""
        self.lock = threading.Lock()
        self.default_reset = default_reset
        self.partitions: dict[tuple[str, int], PartitionState] = {}
        #: Bumped by every change of the assignment or a seek: the fetcher looks again.
        self.version = 0

    def assign(self, tps: Iterable[TopicPartition]) -> list[PartitionState]:
        """Replace the assignment; partitions kept keep their position unless a new offset
        is given."""
        checked = [check_partition(tp) for tp in tps]
        with self.lock:
            old = self.partitions
            new: dict[tuple[str, int], PartitionState] = {}
            for tp in checked:
                key = (tp.topic, tp.partition)
                state = old.get(key) or PartitionState(tp.topic, tp.partition)
                if tp.offset != OFFSET_INVALID or key not in old:
                    self._seek(state, tp.offset)
                new[key] = state
            self.partitions = new
            self.version += 1
            return list(new.values())

    def _seek(self, state: PartitionState, offset: int) -> None:
        default = self.default_reset
        # None ("error"): a partition with no offset has nowhere to start; Kafka raises
        # NoOffsetForPartitionException, we mark it for the earliest/latest check in reset.
        state.seek(offset, RESET_LATEST if default is None else default)
        if offset < 0 and offset not in (OFFSET_BEGINNING, OFFSET_END) and default is None:
            state.reset = RESET_ERROR

    def seek(self, tp: TopicPartition) -> PartitionState:
        check_partition(tp, offset_required=True)
        with self.lock:
            state = self.get(tp)
            self._seek(state, tp.offset)
            self.version += 1
            return state

    def get(self, tp: TopicPartition | tuple[str, int]) -> PartitionState:
        key = (tp.topic, tp.partition) if isinstance(tp, TopicPartition) else tp
        state = self.partitions.get(key)
        if state is None:
            raise InvalidRequestError(f"{key[0]}/{key[1]} is not assigned to this consumer")
        return state

    def select(self, tps: Iterable[TopicPartition] | None) -> list[PartitionState]:
        if tps is None:
            return list(self.partitions.values())
        return [self.get(check_partition(tp)) for tp in tps]

    def pause(self, tps: Iterable[TopicPartition] | None) -> list[PartitionState]:
        """Stop fetching ``tps``; what was fetched ahead is dropped (the epoch moves on) and
        fetched again from the position on resume. Returns the paused states."""
        with self.lock:
            states = self.select(tps)
            for state in states:
                state.paused = True
                state.epoch += 1
                if state.reset is None and state.position >= 0:
                    state.fetch_offset = state.position
            return states

    def set_paused(self, tps: Iterable[TopicPartition], paused: bool) -> None:
        with self.lock:
            for state in self.select(tps):
                state.paused = paused
            self.version += 1

    def fetchable(self) -> list[PartitionState]:
        return [s for s in self.partitions.values() if s.fetchable]

    def needs_reset(self) -> list[PartitionState]:
        return [s for s in self.partitions.values() if s.reset is not None and not s.paused]
