"""The producer's partitioner: explicit partition, else key hash, else sticky.

Records without a key go to one partition per topic -- the *sticky* partition -- until the
producer reports that the batch for it was sent; then the partitioner moves on to another
partition.  Batches fill up instead of many tiny batches going to every partition, which is
what made Kafka's sticky partitioner (KIP-480) cut latency.  Two refinements of KIP-794
(Kafka's ``BuiltInPartitioner``) are available:

* ``sticky_bytes`` switches after that many bytes were appended to the sticky partition
  (KIP-794 uses ``batch.size``), so a slow broker whose batches linger does not attract
  more records than a fast one merely because its batches take longer to send;
* :meth:`StickyPartitioner.set_queue_sizes` weights the choice of the next partition
  inversely to the queued bytes per partition ("adaptive partitioning"): weight
  ``max_queue + 1 - queue``, as Kafka's cumulative frequency table does.

Randomness is passed in (a ``random.Random`` instance fits :class:`RandomSource`), so a seeded
source gives the same sequence of partitions every run.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from partitioning.errors import InvalidPartitionCount, PartitionOutOfRange
from partitioning.keys import partition_for

__all__ = ["RandomSource", "StickyPartitioner"]


class RandomSource(Protocol):
    """What the partitioner needs of a random source; ``random.Random`` satisfies it."""

    def random(self) -> float:
        """A float in ``[0.0, 1.0)``."""
        ...


@dataclass(slots=True)
class _TopicState:
    partition: int
    num_partitions: int
    produced_bytes: int = 0


class StickyPartitioner:
    """Chooses a partition for each record of one producer.

    Not thread-safe: owned by the producer's record accumulator and called under its lock
    (or from its one event loop), like every other piece of accumulator state.
    """

    __slots__ = ("_queue_sizes", "_rng", "_sticky_bytes", "_topics")

    def __init__(self, rng: RandomSource, *, sticky_bytes: int | None = None) -> None:
        if sticky_bytes is not None and sticky_bytes < 1:
            raise ValueError(f"sticky_bytes must be at least 1, got {sticky_bytes}")
        self._rng = rng
        self._sticky_bytes = sticky_bytes
        self._topics: dict[str, _TopicState] = {}
        self._queue_sizes: dict[str, tuple[int, ...]] = {}

    def choose(
        self,
        topic: str,
        key: bytes | None,
        explicit_partition: int | None,
        num_partitions: int,
        available: Collection[int] | None = None,
    ) -> int:
        """The partition for one record: explicit wins over key, key wins over sticky.

        ``available`` holds the partitions that currently have a leader (pass a set: the
        membership test runs per record); the sticky choice prefers them.  Keyed and
        explicit records keep their partition regardless, as in Kafka, since moving them
        would break per-key order.  Raises :class:`PartitionOutOfRange` for an explicit
        partition outside the topic and :class:`InvalidPartitionCount` for
        ``num_partitions < 1``.
        """
        if explicit_partition is not None:
            if num_partitions < 1:
                raise InvalidPartitionCount(
                    f"a topic has at least 1 partition, got {num_partitions}"
                )
            if not 0 <= explicit_partition < num_partitions:
                raise PartitionOutOfRange(
                    f"partition {explicit_partition} of topic {topic!r} is not in "
                    f"[0, {num_partitions - 1}]"
                )
            return explicit_partition
        if key is not None:
            return partition_for(key, num_partitions)
        return self.sticky_partition(topic, num_partitions, available)

    def sticky_partition(
        self, topic: str, num_partitions: int, available: Collection[int] | None = None
    ) -> int:
        """The current sticky partition of ``topic``; picks one when there is none yet.

        A new one is also picked when the topic shrank below it (metadata changed) or when
        ``available`` is non-empty and no longer contains it (its leader went away).
        """
        if num_partitions < 1:
            raise InvalidPartitionCount(f"a topic has at least 1 partition, got {num_partitions}")
        state = self._topics.get(topic)
        if (
            state is None
            or state.partition >= num_partitions
            or (available and state.partition not in available)
        ):
            previous = -1 if state is None else state.partition
            state = _TopicState(self._next(topic, num_partitions, available, previous), 0)
            self._topics[topic] = state
        state.num_partitions = num_partitions
        return state.partition

    def on_batch_sent(self, topic: str, partition: int) -> None:
        """The batch for ``partition`` of ``topic`` is complete and sent: move on (KIP-480).

        Reports about a partition that is not the sticky one are ignored (a keyed or
        explicit record's batch, or a report that arrives after the switch).
        """
        state = self._topics.get(topic)
        if state is not None and state.partition == partition:
            self._switch(topic, state)

    def on_append(self, topic: str, partition: int, num_bytes: int) -> None:
        """``num_bytes`` were appended to ``partition``; switch after ``sticky_bytes`` (KIP-794).

        A no-op when the partitioner was built without ``sticky_bytes``.
        """
        if self._sticky_bytes is None:
            return
        state = self._topics.get(topic)
        if state is None or state.partition != partition:
            return
        state.produced_bytes += num_bytes
        if state.produced_bytes >= self._sticky_bytes:
            self._switch(topic, state)

    def set_queue_sizes(self, topic: str, queue_sizes: Sequence[int] | None) -> None:
        """Queued bytes per partition of ``topic`` (index = partition); ``None`` forgets them.

        Only the choice of the *next* sticky partition uses them; the current one stays.
        """
        if queue_sizes is None:
            self._queue_sizes.pop(topic, None)
            return
        if any(size < 0 for size in queue_sizes):
            raise ValueError("queue sizes cannot be negative")
        self._queue_sizes[topic] = tuple(queue_sizes)

    def _switch(self, topic: str, state: _TopicState) -> None:
        state.partition = self._next(topic, state.num_partitions, None, state.partition)
        state.produced_bytes = 0

    def _next(
        self, topic: str, num_partitions: int, available: Collection[int] | None, previous: int
    ) -> int:
        """A partition other than ``previous`` (when there is another), uniformly or weighted."""
        candidates: Sequence[int] = (
            sorted(p for p in available if 0 <= p < num_partitions) if available else ()
        ) or range(num_partitions)
        if len(candidates) > 1 and previous in candidates:
            candidates = [p for p in candidates if p != previous]
        queue_sizes = self._queue_sizes.get(topic)
        if queue_sizes is not None and len(queue_sizes) == num_partitions:
            sizes = [queue_sizes[p] for p in candidates]
            largest = max(sizes)
            if largest != min(sizes):
                return candidates[self._weighted_index([largest + 1 - s for s in sizes])]
        return candidates[min(int(self._rng.random() * len(candidates)), len(candidates) - 1)]

    def _weighted_index(self, weights: list[int]) -> int:
        cumulative: list[int] = []
        total = 0
        for weight in weights:
            total += weight
            cumulative.append(total)
        # bisect_right: a draw of exactly a boundary belongs to the next bucket, so each
        # index i owns [cumulative[i-1], cumulative[i]) and is chosen with weight[i]/total.
        index = bisect.bisect_right(cumulative, self._rng.random() * total)
        return min(index, len(weights) - 1)
