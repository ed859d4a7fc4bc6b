"""What the cluster needs of a partition the broker hosts: the few calls through which a
partition's Raft group (``replicated.PartitionReplica``) hands it leadership, the commit
point and the batches it replicated.

The broker core's ``Partition`` (``logd.broker.partition``) satisfies :class:`HostedPartition`
structurally; the cluster never imports it, so the cluster sits below the core (docs/
internals.md, "Layers") and its tests can drive a replica with any object of this shape.

Ownership: these are contracts; the objects behind them are owned by the broker's loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from logd.errors import LogdError
from logd.metadata.store import PartitionAssignment
from logd.metadata.types import LeaderHint, TopicPartition
from logd.records.header import BatchHeader
from logd.storage import Log

__all__ = ["HostedPartition", "LeadershipAnnouncer"]


class HostedPartition(Protocol):
    """A partition as its Raft group sees it."""

    @property
    def tp(self) -> TopicPartition: ...

    @property
    def assignment(self) -> PartitionAssignment: ...

    @property
    def is_leader(self) -> bool: ...

    @property
    def high_watermark(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    def set_leader(
        self, leader_id: int, leader_epoch: int, leader_hint: LeaderHint, isr: tuple[int, ...]
    ) -> None:
        """Raft moved the leadership (or the ISR changed)."""
        ...

    def commit(self, end_offset: int) -> None:
        """Everything below ``end_offset`` is committed: the new high watermark."""
        ...

    def observe_replicated(self, header: BatchHeader) -> None:
        """A follower wrote a batch it replicated (the producer state follows it)."""
        ...

    def rebuild_producer_state(self) -> int:
        """The log changed under the partition (a cut, a snapshot): read it again."""
        ...

    def storage_failed(self, error: LogdError) -> None:
        """The log went offline: what waits for a commit fails now with ``error``."""
        ...

    def reopened(self, log: Log) -> None:
        """The offline log was reopened from its files: serve from ``log`` now."""
        ...


#: Told after every leadership change of a hosted partition (the broker's replica manager
#: announces it to the group coordinators).
LeadershipAnnouncer = Callable[[HostedPartition], None]
