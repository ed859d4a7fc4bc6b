"""The public value types of group administration (``Admin.list_groups`` and friends).

Frozen dataclasses; safe to share between threads.
"""

from __future__ import annotations

import dataclasses

from logd.client.types import TopicPartition

__all__ = ["GroupDescription", "GroupListing", "GroupMember", "GroupPartition"]


@dataclasses.dataclass(frozen=True, slots=True)
class GroupListing:
    group_id: str
    state: str  # Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
    protocol_type: str
    coordinator_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class GroupMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    #: The member's partitions (empty unless the group is Stable).
    assignment: list[TopicPartition]


@dataclasses.dataclass(frozen=True, slots=True)
class GroupPartition:
    """One partition of a group: its committed offset (-1: none), the log end offset (the
    high watermark; -1 when unknown), the lag between them (None when either is unknown)
    and the member it is assigned to ("" when none)."""

    topic: str
    partition: int
    committed_offset: int
    log_end_offset: int
    lag: int | None
    member_id: str = ""
    client_id: str = ""
    host: str = ""
    group_instance_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol: str  # the assignor of the current generation (when Stable)
    generation_id: int
    leader_id: str
    coordinator_id: int
    members: list[GroupMember]
    partitions: list[GroupPartition]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions if p.lag is not None)

    @property
    def exists(self) -> bool:
        return self.state != "Dead" or bool(self.members) or bool(self.partitions)
