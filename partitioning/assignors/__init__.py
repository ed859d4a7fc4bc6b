"""Consumer-group assignors: range, round-robin and cooperative-sticky (Kafka's names).

:data:`ASSIGNORS` maps each protocol name members advertise at JoinGroup to its assignor.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from partitioning.assignors.base import PartitionAssignor, member_order
from partitioning.assignors.cooperative_sticky import (
    CooperativeStickyAssignor,
    assign_cooperative_sticky,
    member_generation,
    sticky_target,
)
from partitioning.assignors.range import RangeAssignor, assign_range
from partitioning.assignors.roundrobin import RoundRobinAssignor, assign_roundrobin

__all__ = [
    "ASSIGNORS",
    "CooperativeStickyAssignor",
    "PartitionAssignor",
    "RangeAssignor",
    "RoundRobinAssignor",
    "assign_cooperative_sticky",
    "assign_range",
    "assign_roundrobin",
    "member_generation",
    "member_order",
    "sticky_target",
]

_ALL: tuple[PartitionAssignor, ...] = (
    RangeAssignor(),
    RoundRobinAssignor(),
    CooperativeStickyAssignor(),
)
ASSIGNORS: Mapping[str, PartitionAssignor] = MappingProxyType({a.name: a for a in _ALL})
