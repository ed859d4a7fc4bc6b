"""logd's Python clients (examples: README.md and docs/patterns.md).

Sync clients in confluent-kafka's shape here; asyncio clients in aiokafka's shape in
:mod:`logd.client.aio`. Errors are :mod:`logd.errors` classes only.
"""

from logd.client.group.types import GroupDescription, GroupListing, GroupMember, GroupPartition
from logd.client.sync.admin import Admin
from logd.client.sync.consumer import Consumer
from logd.client.sync.producer import Producer
from logd.client.sync.security_admin import SecurityAdmin
from logd.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    BrokerDecommission,
    BrokerInfo,
    ClusterConfig,
    ClusterInfo,
    ClusterMetadata,
    ConfigEntry,
    ConsumerRecord,
    ControllerQuorum,
    NewTopic,
    PartitionInfo,
    PartitionLeader,
    PartitionMove,
    RecordMetadata,
    TopicDescription,
    TopicListing,
    TopicPartition,
)

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_INVALID",
    "OFFSET_STORED",
    "Admin",
    "BrokerDecommission",
    "BrokerInfo",
    "ClusterConfig",
    "ClusterInfo",
    "ClusterMetadata",
    "ConfigEntry",
    "Consumer",
    "ConsumerRecord",
    "ControllerQuorum",
    "GroupDescription",
    "GroupListing",
    "GroupMember",
    "GroupPartition",
    "NewTopic",
    "PartitionInfo",
    "PartitionLeader",
    "PartitionMove",
    "Producer",
    "RecordMetadata",
    "SecurityAdmin",
    "TopicDescription",
    "TopicListing",
    "TopicPartition",
]
