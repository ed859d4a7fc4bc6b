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
    api_versions,
    client_quotas,
    create_partitions,
    create_topics,
    delete_topics,
    describe_cluster,
    fetch,
    find_coordinator,
    init_producer_id,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    produce,
    sasl_authenticate,
    sasl_handshake,
    scram_users,
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
    Api(18, "ApiVersions", 0, 4, api_versions.handle),
    Api(19, "CreateTopics", 2, 7, create_topics.handle),
    Api(20, "DeleteTopics", 1, 6, delete_topics.handle),
    Api(22, "InitProducerId", 0, 5, init_producer_id.handle),
    Api(23, "OffsetForLeaderEpoch", 2, 4, offset_for_leader_epoch.handle),
    Api(37, "CreatePartitions", 0, 3, create_partitions.handle),
    Api(60, "DescribeCluster", 0, 1, describe_cluster.handle),
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
