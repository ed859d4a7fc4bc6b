from logd.v1 import admin_pb2 as _admin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftEntry(_message.Message):
    __slots__ = ("term", "base_offset", "last_offset", "kind", "data")
    TERM_FIELD_NUMBER: _ClassVar[int]
    BASE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LAST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    term: int
    base_offset: int
    last_offset: int
    kind: int
    data: bytes
    def __init__(self, term: _Optional[int] = ..., base_offset: _Optional[int] = ..., last_offset: _Optional[int] = ..., kind: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class ConfStateProto(_message.Message):
    __slots__ = ("voters", "voters_outgoing", "learners", "learners_next")
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    VOTERS_OUTGOING_FIELD_NUMBER: _ClassVar[int]
    LEARNERS_FIELD_NUMBER: _ClassVar[int]
    LEARNERS_NEXT_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedScalarFieldContainer[int]
    voters_outgoing: _containers.RepeatedScalarFieldContainer[int]
    learners: _containers.RepeatedScalarFieldContainer[int]
    learners_next: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, voters: _Optional[_Iterable[int]] = ..., voters_outgoing: _Optional[_Iterable[int]] = ..., learners: _Optional[_Iterable[int]] = ..., learners_next: _Optional[_Iterable[int]] = ...) -> None: ...

class RaftMessage(_message.Message):
    __slots__ = ("group", "type", "term", "prev_offset", "prev_term", "commit", "entries", "reject", "hint_offset", "hint_term", "pre_vote", "transfer", "granted", "snapshot_offset", "snapshot_term", "snapshot_conf", "snapshot_data")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        APPEND: _ClassVar[RaftMessage.Type]
        APPEND_RESPONSE: _ClassVar[RaftMessage.Type]
        VOTE: _ClassVar[RaftMessage.Type]
        VOTE_RESPONSE: _ClassVar[RaftMessage.Type]
        SNAPSHOT: _ClassVar[RaftMessage.Type]
        TIMEOUT_NOW: _ClassVar[RaftMessage.Type]
    APPEND: RaftMessage.Type
    APPEND_RESPONSE: RaftMessage.Type
    VOTE: RaftMessage.Type
    VOTE_RESPONSE: RaftMessage.Type
    SNAPSHOT: RaftMessage.Type
    TIMEOUT_NOW: RaftMessage.Type
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    PREV_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PREV_TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    HINT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    HINT_TERM_FIELD_NUMBER: _ClassVar[int]
    PRE_VOTE_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TERM_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_CONF_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_DATA_FIELD_NUMBER: _ClassVar[int]
    group: str
    type: RaftMessage.Type
    term: int
    prev_offset: int
    prev_term: int
    commit: int
    entries: _containers.RepeatedCompositeFieldContainer[RaftEntry]
    reject: bool
    hint_offset: int
    hint_term: int
    pre_vote: bool
    transfer: bool
    granted: bool
    snapshot_offset: int
    snapshot_term: int
    snapshot_conf: ConfStateProto
    snapshot_data: bytes
    def __init__(self, group: _Optional[str] = ..., type: _Optional[_Union[RaftMessage.Type, str]] = ..., term: _Optional[int] = ..., prev_offset: _Optional[int] = ..., prev_term: _Optional[int] = ..., commit: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[RaftEntry, _Mapping]]] = ..., reject: _Optional[bool] = ..., hint_offset: _Optional[int] = ..., hint_term: _Optional[int] = ..., pre_vote: _Optional[bool] = ..., transfer: _Optional[bool] = ..., granted: _Optional[bool] = ..., snapshot_offset: _Optional[int] = ..., snapshot_term: _Optional[int] = ..., snapshot_conf: _Optional[_Union[ConfStateProto, _Mapping]] = ..., snapshot_data: _Optional[bytes] = ...) -> None: ...

class RaftFrame(_message.Message):
    __slots__ = ("src", "dst", "messages", "heartbeat_groups", "heartbeat_terms", "heartbeat_commits", "heartbeat_response_groups", "heartbeat_response_terms", "lost_groups", "lost_last_offsets", "heartbeat_quiesce", "heartbeat_response_wake")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_GROUPS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TERMS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_COMMITS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_RESPONSE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_RESPONSE_TERMS_FIELD_NUMBER: _ClassVar[int]
    LOST_GROUPS_FIELD_NUMBER: _ClassVar[int]
    LOST_LAST_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_QUIESCE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_RESPONSE_WAKE_FIELD_NUMBER: _ClassVar[int]
    src: int
    dst: int
    messages: _containers.RepeatedCompositeFieldContainer[RaftMessage]
    heartbeat_groups: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_terms: _containers.RepeatedScalarFieldContainer[int]
    heartbeat_commits: _containers.RepeatedScalarFieldContainer[int]
    heartbeat_response_groups: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_response_terms: _containers.RepeatedScalarFieldContainer[int]
    lost_groups: _containers.RepeatedScalarFieldContainer[str]
    lost_last_offsets: _containers.RepeatedScalarFieldContainer[int]
    heartbeat_quiesce: _containers.RepeatedScalarFieldContainer[bool]
    heartbeat_response_wake: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, src: _Optional[int] = ..., dst: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[RaftMessage, _Mapping]]] = ..., heartbeat_groups: _Optional[_Iterable[str]] = ..., heartbeat_terms: _Optional[_Iterable[int]] = ..., heartbeat_commits: _Optional[_Iterable[int]] = ..., heartbeat_response_groups: _Optional[_Iterable[str]] = ..., heartbeat_response_terms: _Optional[_Iterable[int]] = ..., lost_groups: _Optional[_Iterable[str]] = ..., lost_last_offsets: _Optional[_Iterable[int]] = ..., heartbeat_quiesce: _Optional[_Iterable[bool]] = ..., heartbeat_response_wake: _Optional[_Iterable[bool]] = ...) -> None: ...

class RaftStreamEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RaftEndpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RaftEndpointResponse(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: _Optional[str] = ...) -> None: ...

class RaftHello(_message.Message):
    __slots__ = ("cluster_id", "node_id")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    node_id: int
    def __init__(self, cluster_id: _Optional[str] = ..., node_id: _Optional[int] = ...) -> None: ...

class MetadataRecord(_message.Message):
    __slots__ = ("cluster_id", "broker", "topic", "partition", "config", "remove_topic", "producer_ids", "scram", "remove_scram", "acl", "remove_acl", "quota", "drain", "controller_voters", "unregister")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    BROKER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_IDS_FIELD_NUMBER: _ClassVar[int]
    SCRAM_FIELD_NUMBER: _ClassVar[int]
    REMOVE_SCRAM_FIELD_NUMBER: _ClassVar[int]
    ACL_FIELD_NUMBER: _ClassVar[int]
    REMOVE_ACL_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_VOTERS_FIELD_NUMBER: _ClassVar[int]
    UNREGISTER_FIELD_NUMBER: _ClassVar[int]
    cluster_id: ClusterIdRecord
    broker: RegisterBrokerRecord
    topic: TopicRecordProto
    partition: PartitionRecordProto
    config: ConfigRecord
    remove_topic: RemoveTopicRecord
    producer_ids: ProducerIdsRecord
    scram: ScramCredentialRecord
    remove_scram: RemoveScramCredentialRecord
    acl: AclRecord
    remove_acl: AclRecord
    quota: ClientQuotaRecord
    drain: BrokerDrainRecord
    controller_voters: ControllerVotersRecord
    unregister: UnregisterBrokerRecord
    def __init__(self, cluster_id: _Optional[_Union[ClusterIdRecord, _Mapping]] = ..., broker: _Optional[_Union[RegisterBrokerRecord, _Mapping]] = ..., topic: _Optional[_Union[TopicRecordProto, _Mapping]] = ..., partition: _Optional[_Union[PartitionRecordProto, _Mapping]] = ..., config: _Optional[_Union[ConfigRecord, _Mapping]] = ..., remove_topic: _Optional[_Union[RemoveTopicRecord, _Mapping]] = ..., producer_ids: _Optional[_Union[ProducerIdsRecord, _Mapping]] = ..., scram: _Optional[_Union[ScramCredentialRecord, _Mapping]] = ..., remove_scram: _Optional[_Union[RemoveScramCredentialRecord, _Mapping]] = ..., acl: _Optional[_Union[AclRecord, _Mapping]] = ..., remove_acl: _Optional[_Union[AclRecord, _Mapping]] = ..., quota: _Optional[_Union[ClientQuotaRecord, _Mapping]] = ..., drain: _Optional[_Union[BrokerDrainRecord, _Mapping]] = ..., controller_voters: _Optional[_Union[ControllerVotersRecord, _Mapping]] = ..., unregister: _Optional[_Union[UnregisterBrokerRecord, _Mapping]] = ...) -> None: ...

class UnregisterBrokerRecord(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    def __init__(self, node_id: _Optional[int] = ...) -> None: ...

class ControllerVotersRecord(_message.Message):
    __slots__ = ("voters",)
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, voters: _Optional[_Iterable[int]] = ...) -> None: ...

class BrokerDrainRecord(_message.Message):
    __slots__ = ("node_id", "draining")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    draining: bool
    def __init__(self, node_id: _Optional[int] = ..., draining: _Optional[bool] = ...) -> None: ...

class ClusterIdRecord(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class RegisterBrokerRecord(_message.Message):
    __slots__ = ("node_id", "host", "port", "rack", "endpoints")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    RACK_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    host: str
    port: int
    rack: str
    endpoints: _containers.RepeatedCompositeFieldContainer[BrokerEndpoint]
    def __init__(self, node_id: _Optional[int] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., rack: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[BrokerEndpoint, _Mapping]]] = ...) -> None: ...

class BrokerEndpoint(_message.Message):
    __slots__ = ("name", "host", "port")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    port: int
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class TopicRecordProto(_message.Message):
    __slots__ = ("name", "topic_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    topic_id: str
    def __init__(self, name: _Optional[str] = ..., topic_id: _Optional[str] = ...) -> None: ...

class PartitionRecordProto(_message.Message):
    __slots__ = ("topic_id", "partition", "replicas", "adding_replicas", "removing_replicas", "move_throttle", "move_throttle_follows")
    TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    ADDING_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REMOVING_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MOVE_THROTTLE_FIELD_NUMBER: _ClassVar[int]
    MOVE_THROTTLE_FOLLOWS_FIELD_NUMBER: _ClassVar[int]
    topic_id: str
    partition: int
    replicas: _containers.RepeatedScalarFieldContainer[int]
    adding_replicas: _containers.RepeatedScalarFieldContainer[int]
    removing_replicas: _containers.RepeatedScalarFieldContainer[int]
    move_throttle: int
    move_throttle_follows: bool
    def __init__(self, topic_id: _Optional[str] = ..., partition: _Optional[int] = ..., replicas: _Optional[_Iterable[int]] = ..., adding_replicas: _Optional[_Iterable[int]] = ..., removing_replicas: _Optional[_Iterable[int]] = ..., move_throttle: _Optional[int] = ..., move_throttle_follows: _Optional[bool] = ...) -> None: ...

class ConfigRecord(_message.Message):
    __slots__ = ("topic_id", "key", "value", "delete")
    TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    topic_id: str
    key: str
    value: str
    delete: bool
    def __init__(self, topic_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[str] = ..., delete: _Optional[bool] = ...) -> None: ...

class RemoveTopicRecord(_message.Message):
    __slots__ = ("topic_id",)
    TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    topic_id: str
    def __init__(self, topic_id: _Optional[str] = ...) -> None: ...

class ProducerIdsRecord(_message.Message):
    __slots__ = ("node_id", "first_id", "count")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    first_id: int
    count: int
    def __init__(self, node_id: _Optional[int] = ..., first_id: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class ScramCredentialRecord(_message.Message):
    __slots__ = ("name", "mechanism", "salt", "stored_key", "server_key", "iterations")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    STORED_KEY_FIELD_NUMBER: _ClassVar[int]
    SERVER_KEY_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    mechanism: int
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int
    def __init__(self, name: _Optional[str] = ..., mechanism: _Optional[int] = ..., salt: _Optional[bytes] = ..., stored_key: _Optional[bytes] = ..., server_key: _Optional[bytes] = ..., iterations: _Optional[int] = ...) -> None: ...

class RemoveScramCredentialRecord(_message.Message):
    __slots__ = ("name", "mechanism")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    name: str
    mechanism: int
    def __init__(self, name: _Optional[str] = ..., mechanism: _Optional[int] = ...) -> None: ...

class AclRecord(_message.Message):
    __slots__ = ("resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission")
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_NAME_FIELD_NUMBER: _ClassVar[int]
    PATTERN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int
    def __init__(self, resource_type: _Optional[int] = ..., resource_name: _Optional[str] = ..., pattern_type: _Optional[int] = ..., principal: _Optional[str] = ..., host: _Optional[str] = ..., operation: _Optional[int] = ..., permission: _Optional[int] = ...) -> None: ...

class ClientQuotaRecord(_message.Message):
    __slots__ = ("user", "client_id", "key", "value", "remove")
    USER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    user: str
    client_id: str
    key: str
    value: float
    remove: bool
    def __init__(self, user: _Optional[str] = ..., client_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[float] = ..., remove: _Optional[bool] = ...) -> None: ...

class WritePrecondition(_message.Message):
    __slots__ = ("topic", "must_exist", "must_not_exist", "version")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MUST_EXIST_FIELD_NUMBER: _ClassVar[int]
    MUST_NOT_EXIST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    topic: str
    must_exist: bool
    must_not_exist: bool
    version: int
    def __init__(self, topic: _Optional[str] = ..., must_exist: _Optional[bool] = ..., must_not_exist: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class ControllerWriteRequest(_message.Message):
    __slots__ = ("src", "records", "preconditions", "allocate_producer_ids", "producer_id_count")
    SRC_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PRECONDITIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOCATE_PRODUCER_IDS_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_COUNT_FIELD_NUMBER: _ClassVar[int]
    src: int
    records: _containers.RepeatedCompositeFieldContainer[MetadataRecord]
    preconditions: _containers.RepeatedCompositeFieldContainer[WritePrecondition]
    allocate_producer_ids: bool
    producer_id_count: int
    def __init__(self, src: _Optional[int] = ..., records: _Optional[_Iterable[_Union[MetadataRecord, _Mapping]]] = ..., preconditions: _Optional[_Iterable[_Union[WritePrecondition, _Mapping]]] = ..., allocate_producer_ids: _Optional[bool] = ..., producer_id_count: _Optional[int] = ...) -> None: ...

class ControllerWriteResponse(_message.Message):
    __slots__ = ("error_code", "error_message", "offset", "controller_id", "stale", "first_producer_id")
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_ID_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    FIRST_PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    error_code: int
    error_message: str
    offset: int
    controller_id: int
    stale: bool
    first_producer_id: int
    def __init__(self, error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., offset: _Optional[int] = ..., controller_id: _Optional[int] = ..., stale: _Optional[bool] = ..., first_producer_id: _Optional[int] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("node_id", "host", "port")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    host: str
    port: int
    def __init__(self, node_id: _Optional[int] = ..., host: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LedPartition(_message.Message):
    __slots__ = ("topic", "partition", "leader_epoch", "isr", "move_bytes_plus_one", "size_bytes")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    LEADER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    ISR_FIELD_NUMBER: _ClassVar[int]
    MOVE_BYTES_PLUS_ONE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    leader_epoch: int
    isr: _containers.RepeatedScalarFieldContainer[int]
    move_bytes_plus_one: int
    size_bytes: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., leader_epoch: _Optional[int] = ..., isr: _Optional[_Iterable[int]] = ..., move_bytes_plus_one: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class BrokerHeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "led", "metadata_offset", "full", "unled", "table_epoch", "table_version", "storage")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LED_FIELD_NUMBER: _ClassVar[int]
    METADATA_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    UNLED_FIELD_NUMBER: _ClassVar[int]
    TABLE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    led: _containers.RepeatedCompositeFieldContainer[LedPartition]
    metadata_offset: int
    full: bool
    unled: _containers.RepeatedCompositeFieldContainer[LedPartition]
    table_epoch: int
    table_version: int
    storage: BrokerStorage
    def __init__(self, node_id: _Optional[int] = ..., led: _Optional[_Iterable[_Union[LedPartition, _Mapping]]] = ..., metadata_offset: _Optional[int] = ..., full: _Optional[bool] = ..., unled: _Optional[_Iterable[_Union[LedPartition, _Mapping]]] = ..., table_epoch: _Optional[int] = ..., table_version: _Optional[int] = ..., storage: _Optional[_Union[BrokerStorage, _Mapping]] = ...) -> None: ...

class BrokerStorage(_message.Message):
    __slots__ = ("node_id", "full", "degraded", "warning", "free_bytes", "total_bytes", "reserve_bytes", "log_bytes")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESERVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOG_BYTES_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    full: bool
    degraded: str
    warning: str
    free_bytes: int
    total_bytes: int
    reserve_bytes: int
    log_bytes: int
    def __init__(self, node_id: _Optional[int] = ..., full: _Optional[bool] = ..., degraded: _Optional[str] = ..., warning: _Optional[str] = ..., free_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ..., reserve_bytes: _Optional[int] = ..., log_bytes: _Optional[int] = ...) -> None: ...

class LeaderMove(_message.Message):
    __slots__ = ("topic", "partition", "to")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    to: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., to: _Optional[int] = ...) -> None: ...

class BrokerHeartbeatResponse(_message.Message):
    __slots__ = ("controller_id", "live_brokers", "leader_brokers", "led", "moves", "metadata_offset", "full", "removed", "table_epoch", "table_version", "down_brokers", "report_full", "storage")
    CONTROLLER_ID_FIELD_NUMBER: _ClassVar[int]
    LIVE_BROKERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_BROKERS_FIELD_NUMBER: _ClassVar[int]
    LED_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    METADATA_OFFSET_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    TABLE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DOWN_BROKERS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FULL_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    controller_id: int
    live_brokers: _containers.RepeatedScalarFieldContainer[int]
    leader_brokers: _containers.RepeatedScalarFieldContainer[int]
    led: _containers.RepeatedCompositeFieldContainer[LedPartition]
    moves: _containers.RepeatedCompositeFieldContainer[LeaderMove]
    metadata_offset: int
    full: bool
    removed: _containers.RepeatedCompositeFieldContainer[LedPartition]
    table_epoch: int
    table_version: int
    down_brokers: _containers.RepeatedScalarFieldContainer[int]
    report_full: bool
    storage: _containers.RepeatedCompositeFieldContainer[BrokerStorage]
    def __init__(self, controller_id: _Optional[int] = ..., live_brokers: _Optional[_Iterable[int]] = ..., leader_brokers: _Optional[_Iterable[int]] = ..., led: _Optional[_Iterable[_Union[LedPartition, _Mapping]]] = ..., moves: _Optional[_Iterable[_Union[LeaderMove, _Mapping]]] = ..., metadata_offset: _Optional[int] = ..., full: _Optional[bool] = ..., removed: _Optional[_Iterable[_Union[LedPartition, _Mapping]]] = ..., table_epoch: _Optional[int] = ..., table_version: _Optional[int] = ..., down_brokers: _Optional[_Iterable[int]] = ..., report_full: _Optional[bool] = ..., storage: _Optional[_Iterable[_Union[BrokerStorage, _Mapping]]] = ...) -> None: ...

class ForwardedTransfer(_message.Message):
    __slots__ = ("src", "request")
    SRC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    src: int
    request: _admin_pb2.TransferLeadershipRequest
    def __init__(self, src: _Optional[int] = ..., request: _Optional[_Union[_admin_pb2.TransferLeadershipRequest, _Mapping]] = ...) -> None: ...

class FaultRequest(_message.Message):
    __slots__ = ("block_to", "block_from", "clear", "disk_fail_path", "disk_fail_errno", "disk_fail_count", "disk_fail_fsync", "fsync_delay_ms")
    BLOCK_TO_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FROM_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    DISK_FAIL_PATH_FIELD_NUMBER: _ClassVar[int]
    DISK_FAIL_ERRNO_FIELD_NUMBER: _ClassVar[int]
    DISK_FAIL_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISK_FAIL_FSYNC_FIELD_NUMBER: _ClassVar[int]
    FSYNC_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    block_to: _containers.RepeatedScalarFieldContainer[int]
    block_from: _containers.RepeatedScalarFieldContainer[int]
    clear: bool
    disk_fail_path: str
    disk_fail_errno: int
    disk_fail_count: int
    disk_fail_fsync: bool
    fsync_delay_ms: int
    def __init__(self, block_to: _Optional[_Iterable[int]] = ..., block_from: _Optional[_Iterable[int]] = ..., clear: _Optional[bool] = ..., disk_fail_path: _Optional[str] = ..., disk_fail_errno: _Optional[int] = ..., disk_fail_count: _Optional[int] = ..., disk_fail_fsync: _Optional[bool] = ..., fsync_delay_ms: _Optional[int] = ...) -> None: ...

class FaultResponse(_message.Message):
    __slots__ = ("blocked_to", "blocked_from", "disk_faults_pending", "disk_faults_fired")
    BLOCKED_TO_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FROM_FIELD_NUMBER: _ClassVar[int]
    DISK_FAULTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    DISK_FAULTS_FIRED_FIELD_NUMBER: _ClassVar[int]
    blocked_to: _containers.RepeatedScalarFieldContainer[int]
    blocked_from: _containers.RepeatedScalarFieldContainer[int]
    disk_faults_pending: int
    disk_faults_fired: int
    def __init__(self, blocked_to: _Optional[_Iterable[int]] = ..., blocked_from: _Optional[_Iterable[int]] = ..., disk_faults_pending: _Optional[int] = ..., disk_faults_fired: _Optional[int] = ...) -> None: ...
