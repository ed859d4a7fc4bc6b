"""Which ACL operation on which resource each request needs: Kafka's table (KafkaApis and
the docs' "Operations and Resources on Protocols"), by the action names the seam uses.

An action names its resources when it is called (topic names, group ids, subjects); a
CLUSTER action checks the one resource ``kafka-cluster``. ``filter`` actions do not fail:
what the caller may not see is left out of the answer (Metadata for all topics, ListGroups),
as Kafka does. An action missing from this table is refused — a new seam method without a
line here cannot slip through unchecked (tests/broker/security checks the seam against it).
"""

from __future__ import annotations

from dataclasses import dataclass

from logd.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    LogdError,
    SubjectAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)
from logd.security.acl import AclOperation, ResourceType

__all__ = ["ACTIONS", "ERRORS", "Need"]

Op = AclOperation
RT = ResourceType

ERRORS: dict[ResourceType, type[LogdError]] = {
    RT.TOPIC: TopicAuthorizationFailedError,
    RT.GROUP: GroupAuthorizationFailedError,
    RT.CLUSTER: ClusterAuthorizationFailedError,
    RT.TRANSACTIONAL_ID: TransactionalIdAuthorizationFailedError,
    RT.SUBJECT: SubjectAuthorizationFailedError,
}


@dataclass(frozen=True)
class Need:
    operation: AclOperation
    resource_type: ResourceType
    #: Also allowed by this operation on the cluster (CreateTopics: CREATE on the cluster).
    cluster_operation: AclOperation | None = None
    #: Leave out what is not allowed instead of failing (the all-resources listings).
    filter: bool = False
    #: Any authenticated principal may (Kafka checks nothing more: DescribeCluster).
    authenticated_only: bool = False


ACTIONS: dict[str, Need] = {
    # produce, fetch, offsets
    "produce": Need(Op.WRITE, RT.TOPIC),
    "fetch": Need(Op.READ, RT.TOPIC),
    "list_offsets": Need(Op.DESCRIBE, RT.TOPIC),
    "offsets_for_leader_epochs": Need(Op.DESCRIBE, RT.TOPIC),
    "describe_producers": Need(Op.READ, RT.TOPIC),
    "delete_records": Need(Op.DELETE, RT.TOPIC),
    "init_producer_id": Need(Op.IDEMPOTENT_WRITE, RT.CLUSTER),  # or WRITE on any topic
    # metadata and admin
    "metadata": Need(Op.DESCRIBE, RT.TOPIC),
    # Kafka's DescribeCluster needs no ACL (only its authorized-operations field would).
    "describe_cluster": Need(Op.DESCRIBE, RT.CLUSTER, authenticated_only=True),
    # This broker's health (issue 24): what DescribeCluster already tells, for one broker.
    "health": Need(Op.DESCRIBE, RT.CLUSTER, authenticated_only=True),
    "create_topics": Need(Op.CREATE, RT.TOPIC, cluster_operation=Op.CREATE),
    "delete_topics": Need(Op.DELETE, RT.TOPIC),
    "list_topics": Need(Op.DESCRIBE, RT.TOPIC, filter=True),
    "describe_topics": Need(Op.DESCRIBE, RT.TOPIC),
    "describe_configs": Need(Op.DESCRIBE_CONFIGS, RT.TOPIC),
    "describe_broker_configs": Need(Op.DESCRIBE_CONFIGS, RT.CLUSTER),
    "alter_configs": Need(Op.ALTER_CONFIGS, RT.TOPIC),
    # The cluster's dynamic configs (issue 23): Kafka's AlterConfigs of a broker resource.
    "alter_broker_configs": Need(Op.ALTER_CONFIGS, RT.CLUSTER),
    "create_partitions": Need(Op.ALTER, RT.TOPIC),
    "transfer_leadership": Need(Op.ALTER, RT.CLUSTER),
    "cluster_admin": Need(Op.ALTER, RT.CLUSTER),  # partition moves, decommission
    # Kafka's ListPartitionReassignments: DESCRIBE on the cluster (an ACL, unlike DescribeCluster)
    "list_moves": Need(Op.DESCRIBE, RT.CLUSTER),
    # consumer groups
    "find_coordinators": Need(Op.DESCRIBE, RT.GROUP),
    "join_group": Need(Op.READ, RT.GROUP),
    "sync_group": Need(Op.READ, RT.GROUP),
    "heartbeat": Need(Op.READ, RT.GROUP),
    "consumer_group_heartbeat": Need(Op.READ, RT.GROUP),
    "leave_group": Need(Op.READ, RT.GROUP),
    "commit_offsets": Need(Op.READ, RT.GROUP),  # and READ on each topic committed
    "commit_offsets_topics": Need(Op.READ, RT.TOPIC),
    "fetch_offsets": Need(Op.DESCRIBE, RT.GROUP),
    "fetch_offsets_topics": Need(Op.DESCRIBE, RT.TOPIC, filter=True),
    "list_groups": Need(Op.DESCRIBE, RT.GROUP, cluster_operation=Op.DESCRIBE, filter=True),
    "describe_groups": Need(Op.DESCRIBE, RT.GROUP),
    "delete_groups": Need(Op.DELETE, RT.GROUP),
    "delete_offsets": Need(Op.DELETE, RT.GROUP),  # and READ on each topic (Kafka's OffsetDelete)
    "delete_offsets_topics": Need(Op.READ, RT.TOPIC),
    "transactional_id": Need(Op.WRITE, RT.TRANSACTIONAL_ID),
    # security administration
    "describe_acls": Need(Op.DESCRIBE, RT.CLUSTER),
    "create_acls": Need(Op.ALTER, RT.CLUSTER),
    "delete_acls": Need(Op.ALTER, RT.CLUSTER),
    "describe_user_scram_credentials": Need(Op.DESCRIBE, RT.CLUSTER),
    "alter_user_scram_credentials": Need(Op.ALTER, RT.CLUSTER),
    "describe_client_quotas": Need(Op.DESCRIBE_CONFIGS, RT.CLUSTER),
    "alter_client_quotas": Need(Op.ALTER_CONFIGS, RT.CLUSTER),
    # schema registry (Confluent's schema-registry ACL operations on subjects)
    "registry_read": Need(Op.READ, RT.SUBJECT),
    "registry_write": Need(Op.WRITE, RT.SUBJECT),
    "registry_delete": Need(Op.DELETE, RT.SUBJECT),
    "registry_list": Need(Op.DESCRIBE, RT.SUBJECT, filter=True),
    "registry_read_config": Need(Op.DESCRIBE_CONFIGS, RT.SUBJECT),
    "registry_write_config": Need(Op.ALTER_CONFIGS, RT.SUBJECT),
    # the brokers' internal service
    "cluster_action": Need(Op.CLUSTER_ACTION, RT.CLUSTER),
}
