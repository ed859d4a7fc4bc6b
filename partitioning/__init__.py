"""Pure placement logic: key -> partition, sticky partitioner, replica placement, assignors.

Imports neither grpc nor asyncio nor ``logd`` (DESIGN.md layout), nor time, random or os:
randomness is passed in.  Everything is typed (``mypy --strict``) and free of I/O.

* :mod:`partitioning.keys` -- :func:`partition_for`, the documented key -> partition map;
* :mod:`partitioning.sticky` -- :class:`StickyPartitioner` for the producer;
* :mod:`partitioning.placement` -- replica placement and leader choice for the controller;
* :mod:`partitioning.assignors` -- range, round-robin and cooperative-sticky group assignors;
* :mod:`partitioning.protocol` -- Kafka's ConsumerProtocol subscription/assignment bytes;
* :mod:`partitioning.errors` -- the errors above raise, for ``logd`` to translate.
"""

from __future__ import annotations

from partitioning.assignors import (
    ASSIGNORS,
    CooperativeStickyAssignor,
    PartitionAssignor,
    RangeAssignor,
    RoundRobinAssignor,
    assign_cooperative_sticky,
    assign_range,
    assign_roundrobin,
    member_generation,
    member_order,
    sticky_target,
)
from partitioning.errors import (
    InvalidPartitionCount,
    InvalidReplicaAssignment,
    InvalidReplicationFactor,
    PartitioningError,
    PartitionOutOfRange,
    ProtocolDecodeError,
    ProtocolEncodeError,
)
from partitioning.keys import (
    KEY_PARTITIONERS,
    key_hash,
    murmur2,
    murmur2_partition_for,
    offsets_partition_for,
    partition_for,
)
from partitioning.model import (
    DEFAULT_GENERATION,
    Assignment,
    MemberId,
    RebalanceProtocol,
    Subscription,
    TopicPartition,
)
from partitioning.placement import (
    add_partitions,
    assign_replicas,
    choose_leader,
    preferred_leader_moves,
)
from partitioning.protocol import (
    ASSIGNMENT_VERSION_MAX,
    PROTOCOL_TYPE,
    SUBSCRIPTION_VERSION_MAX,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from partitioning.sticky import RandomSource, StickyPartitioner

__all__ = [
    "ASSIGNMENT_VERSION_MAX",
    "ASSIGNORS",
    "DEFAULT_GENERATION",
    "KEY_PARTITIONERS",
    "PROTOCOL_TYPE",
    "SUBSCRIPTION_VERSION_MAX",
    "Assignment",
    "CooperativeStickyAssignor",
    "InvalidPartitionCount",
    "InvalidReplicaAssignment",
    "InvalidReplicationFactor",
    "MemberId",
    "PartitionAssignor",
    "PartitionOutOfRange",
    "PartitioningError",
    "ProtocolDecodeError",
    "ProtocolEncodeError",
    "RandomSource",
    "RangeAssignor",
    "RebalanceProtocol",
    "RoundRobinAssignor",
    "StickyPartitioner",
    "Subscription",
    "TopicPartition",
    "add_partitions",
    "assign_cooperative_sticky",
    "assign_range",
    "assign_replicas",
    "assign_roundrobin",
    "choose_leader",
    "decode_assignment",
    "decode_subscription",
    "encode_assignment",
    "encode_subscription",
    "key_hash",
    "member_generation",
    "member_order",
    "murmur2",
    "murmur2_partition_for",
    "offsets_partition_for",
    "partition_for",
    "preferred_leader_moves",
    "sticky_target",
]
