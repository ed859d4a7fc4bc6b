"""The API table: every Kafka API this listener serves, one line each.

The ranges are what ApiVersions advertises. Each maximum reaches at least the newest version
librdkafka 2.16 sends; each minimum is Kafka 4.0's (KIP-896), except Produce, which is
advertised from v0 and served from v3 as Kafka 4 does (KAFKA-18659: librdkafka before 2.11.1
compresses only when the Produce range contains 0). docs/kafka.md has the table and why.
Adding an API: one module under ``handlers/`` and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from logd.frontends.kafka.apis import Api, api_table
from logd.frontends.kafka.handlers import (
    acls,
    alter_configs,
    api_versions,
    client_quotas,
    consumer_group_describe,
    consumer_group_heartbeat,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_producers,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    reassignments,
    sasl_authenticate,
    sasl_handshake,
    scram_users,
    sync_group,
    unregister_broker,
)

__all__ = ["API_TABLE"]

# fmt: off
API_TABLE: Final[Mapping[int, Api]] = api_table(
    Api(0, "Produce", 0, 12, produce.handle, served_from=3, refuse=produce.refuse_legacy,
        pipelined=True),
    Api(1, "Fetch", 4, 16, fetch.handle),
    Api(2, "ListOffsets", 1, 7, list_offsets.handle),
    Api(3, "Metadata", 0, 13, metadata.handle),
    Api(10, "FindCoordinator", 0, 6, find_coordinator.handle),
    # consumer groups, classic protocol
    Api(8, "OffsetCommit", 2, 9, offset_commit.handle),
    Api(9, "OffsetFetch", 1, 9, offset_fetch.handle),
    Api(11, "JoinGroup", 0, 9, join_group.handle),
    Api(12, "Heartbeat", 0, 4, heartbeat.handle),
    Api(13, "LeaveGroup", 0, 5, leave_group.handle),
    Api(14, "SyncGroup", 0, 5, sync_group.handle),
    Api(15, "DescribeGroups", 0, 5, describe_groups.handle),
    Api(16, "ListGroups", 0, 5, list_groups.handle),
    Api(42, "DeleteGroups", 0, 2, delete_groups.handle),
    Api(47, "OffsetDelete", 0, 0, offset_delete.handle),
    # consumer groups, KIP-848's consumer protocol
    Api(68, "ConsumerGroupHeartbeat", 0, 1, consumer_group_heartbeat.handle),
    Api(69, "ConsumerGroupDescribe", 0, 1, consumer_group_describe.handle),
    Api(18, "ApiVersions", 0, 4, api_versions.handle),
    Api(19, "CreateTopics", 2, 7, create_topics.handle),
    Api(20, "DeleteTopics", 1, 6, delete_topics.handle),
    Api(21, "DeleteRecords", 0, 2, delete_records.handle),
    Api(22, "InitProducerId", 0, 5, init_producer_id.handle),
    Api(23, "OffsetForLeaderEpoch", 2, 4, offset_for_leader_epoch.handle),
    Api(32, "DescribeConfigs", 1, 4, describe_configs.handle),
    Api(33, "AlterConfigs", 0, 2, alter_configs.handle),
    Api(37, "CreatePartitions", 0, 3, create_partitions.handle),
    Api(44, "IncrementalAlterConfigs", 0, 1, incremental_alter_configs.handle),
    Api(60, "DescribeCluster", 0, 1, describe_cluster.handle),
    Api(61, "DescribeProducers", 0, 0, describe_producers.handle),
    # partition moves (issue 23)
    Api(45, "AlterPartitionReassignments", 0, 1, reassignments.alter),
    Api(46, "ListPartitionReassignments", 0, 0, reassignments.list_moves),
    Api(64, "UnregisterBroker", 0, 0, unregister_broker.handle),
    # security (issue 15)
    Api(17, "SaslHandshake", 0, 1, sasl_handshake.handle),
    Api(36, "SaslAuthenticate", 0, 2, sasl_authenticate.handle),
    Api(29, "DescribeAcls", 1, 3, acls.describe),
    Api(30, "CreateAcls", 1, 3, acls.create),
    Api(31, "DeleteAcls", 1, 3, acls.delete),
    Api(48, "DescribeClientQuotas", 0, 1, client_quotas.describe),
    Api(49, "AlterClientQuotas", 0, 1, client_quotas.alter),
    Api(50, "DescribeUserScramCredentials", 0, 0, scram_users.describe),
    Api(51, "AlterUserScramCredentials", 0, 0, scram_users.alter),
)
# fmt: on
