"""The one place where logd's expected failures are defined (STYLE.md 11).

Every expected failure is a :class:`LogdError` subclass carrying a wire ``code`` (Kafka's
numbers, so a future Kafka-protocol front end maps them one to one) and a ``retriable``
flag that tells clients whether retrying the same request can succeed.  Broken invariants
are ``assert``s, never one of these.

The gRPC servicers translate these to and from the wire in a single helper; the CLI
turns them into one line on stderr.  Nothing else catches them to re-raise as something
different.
"""

from __future__ import annotations

import enum
from typing import ClassVar

__all__ = [
    "BrokerIdNotRegisteredError",
    "BrokerUnavailableError",
    "ClusterAuthorizationFailedError",
    "CoordinatorLoadInProgressError",
    "CoordinatorNotAvailableError",
    "CorruptRecordError",
    "DiskFullError",
    "DuplicateResourceError",
    "DuplicateSequenceError",
    "ErrorCode",
    "FencedInstanceIdError",
    "FencedLeaderEpochError",
    "GroupAuthorizationFailedError",
    "GroupIdNotFoundError",
    "GroupSubscribedToTopicError",
    "IllegalGenerationError",
    "IllegalSaslStateError",
    "InconsistentGroupProtocolError",
    "InvalidCommitOffsetSizeError",
    "InvalidConfigError",
    "InvalidFetchSizeError",
    "InvalidGroupIdError",
    "InvalidPartitionsError",
    "InvalidPrincipalTypeError",
    "InvalidProducerEpochError",
    "InvalidRecordError",
    "InvalidRegularExpressionError",
    "InvalidReplicaAssignmentError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidRequiredAcksError",
    "InvalidSessionTimeoutError",
    "InvalidTimestampError",
    "InvalidTopicError",
    "KafkaStorageError",
    "LeaderNotAvailableError",
    "LogdError",
    "MemberIdRequiredError",
    "MessageTooLargeError",
    "NetworkError",
    "NoReassignmentInProgressError",
    "NonEmptyGroupError",
    "NotControllerError",
    "NotCoordinatorError",
    "NotEnoughReplicasAfterAppendError",
    "NotEnoughReplicasError",
    "NotLeaderOrFollowerError",
    "OffsetMetadataTooLargeError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "PolicyViolationError",
    "ProducerFencedError",
    "ReassignmentInProgressError",
    "RebalanceInProgressError",
    "RecordListTooLargeError",
    "ReplicaNotAvailableError",
    "RequestTimedOutError",
    "ResourceNotFoundError",
    "SaslAuthenticationFailedError",
    "SecurityDisabledError",
    "SubjectAuthorizationFailedError",
    "ThrottlingQuotaExceededError",
    "TopicAlreadyExistsError",
    "TopicAuthorizationFailedError",
    "TransactionalIdAuthorizationFailedError",
    "UnacceptableCredentialError",
    "UnknownLeaderEpochError",
    "UnknownMemberIdError",
    "UnknownProducerIdError",
    "UnknownServerError",
    "UnknownTopicOrPartitionError",
    "UnreleasedInstanceIdError",
    "UnsupportedCompressionTypeError",
    "UnsupportedSaslMechanismError",
    "UnsupportedVersionError",
    "error_for_code",
]


class ErrorCode(enum.IntEnum):
    """Wire error codes; Kafka's numbers where Kafka has the error."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    KAFKA_STORAGE_ERROR = 56
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    MEMBER_ID_REQUIRED = 79
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    BROKER_ID_NOT_REGISTERED = 102
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    INVALID_REGULAR_EXPRESSION = 128
    # logd's own codes (no Kafka equivalent; never sent on the Kafka wire).
    SUBJECT_AUTHORIZATION_FAILED = 1001


class LogdError(Exception):
    """Base of every expected failure. ``str(err)`` is one line meant for a person."""

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN_SERVER_ERROR
    retriable: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code.name.lower().replace("_", " "))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownServerError(LogdError):
    """The broker failed in a way it did not expect; the request may or may not have applied."""

    code = ErrorCode.UNKNOWN_SERVER_ERROR


class OffsetOutOfRangeError(LogdError):
    """The offset lies outside [log start offset, log end offset]."""

    code = ErrorCode.OFFSET_OUT_OF_RANGE


class CorruptRecordError(LogdError):
    """Bytes that are not a valid record batch: bad length, magic, CRC or record framing."""

    code = ErrorCode.CORRUPT_MESSAGE


class UnknownTopicOrPartitionError(LogdError):
    """This broker does not host that topic-partition (it may be about to)."""

    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    retriable = True


class LeaderNotAvailableError(LogdError):
    """The partition has no leader right now (an election is under way)."""

    code = ErrorCode.LEADER_NOT_AVAILABLE
    retriable = True


class NotLeaderOrFollowerError(LogdError):
    """This broker does not lead the partition; ``leader_hint`` names who does, if known."""

    code = ErrorCode.NOT_LEADER_OR_FOLLOWER
    retriable = True

    def __init__(self, message: str = "", leader_hint: str | None = None) -> None:
        super().__init__(message)
        self.leader_hint = leader_hint


class RequestTimedOutError(LogdError):
    """The request's deadline passed before the broker could answer it."""

    code = ErrorCode.REQUEST_TIMED_OUT
    retriable = True


class BrokerUnavailableError(LogdError):
    """No broker answered at the given address(es)."""

    code = ErrorCode.BROKER_NOT_AVAILABLE
    retriable = True


class MessageTooLargeError(LogdError):
    """A batch is larger than ``max.message.bytes`` (or the request size limit)."""

    code = ErrorCode.MESSAGE_TOO_LARGE


class CoordinatorLoadInProgressError(LogdError):
    """The group coordinator is still replaying ``__consumer_offsets``."""

    code = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    retriable = True


class CoordinatorNotAvailableError(LogdError):
    """No coordinator for the group right now."""

    code = ErrorCode.COORDINATOR_NOT_AVAILABLE
    retriable = True


class NotCoordinatorError(LogdError):
    """This broker is not the group's coordinator."""

    code = ErrorCode.NOT_COORDINATOR
    retriable = True


class InvalidTopicError(LogdError):
    """A topic name outside ``[a-zA-Z0-9._-]{1,249}``, or ``.`` / ``..``."""

    code = ErrorCode.INVALID_TOPIC_EXCEPTION


class RecordListTooLargeError(LogdError):
    """A request carries more bytes than one request may."""

    code = ErrorCode.RECORD_LIST_TOO_LARGE


class NotEnoughReplicasError(LogdError):
    """Fewer in-sync replicas than the write needs."""

    code = ErrorCode.NOT_ENOUGH_REPLICAS
    retriable = True


class InvalidRequiredAcksError(LogdError):
    """``acks`` must be 0, 1 or all (-1)."""

    code = ErrorCode.INVALID_REQUIRED_ACKS


class IllegalGenerationError(LogdError):
    """The member's generation is stale: it must rejoin the group."""

    code = ErrorCode.ILLEGAL_GENERATION


class InconsistentGroupProtocolError(LogdError):
    """The member supports no protocol that the group's members have in common."""

    code = ErrorCode.INCONSISTENT_GROUP_PROTOCOL


class InvalidGroupIdError(LogdError):
    """An empty or otherwise invalid group id."""

    code = ErrorCode.INVALID_GROUP_ID


class UnknownMemberIdError(LogdError):
    """The coordinator does not know this member id."""

    code = ErrorCode.UNKNOWN_MEMBER_ID


class InvalidSessionTimeoutError(LogdError):
    """A session timeout outside the broker's allowed range."""

    code = ErrorCode.INVALID_SESSION_TIMEOUT


class RebalanceInProgressError(LogdError):
    """The group is rebalancing: the member must rejoin."""

    code = ErrorCode.REBALANCE_IN_PROGRESS


class InvalidTimestampError(LogdError):
    """A timestamp that cannot be right (negative, or outside the allowed range)."""

    code = ErrorCode.INVALID_TIMESTAMP


class UnsupportedVersionError(LogdError):
    """The request uses a version or feature this broker does not support."""

    code = ErrorCode.UNSUPPORTED_VERSION


class TopicAlreadyExistsError(LogdError):
    """A topic of that name exists already."""

    code = ErrorCode.TOPIC_ALREADY_EXISTS


class InvalidPartitionsError(LogdError):
    """A partition count that is not allowed (< 1, too many, or fewer than now)."""

    code = ErrorCode.INVALID_PARTITIONS


class InvalidReplicationFactorError(LogdError):
    """A replication factor < 1 or larger than the number of brokers."""

    code = ErrorCode.INVALID_REPLICATION_FACTOR


class InvalidConfigError(LogdError):
    """An unknown config key or a value of the wrong type or range."""

    code = ErrorCode.INVALID_CONFIG


class NotControllerError(LogdError):
    """This broker does not lead the controller quorum."""

    code = ErrorCode.NOT_CONTROLLER
    retriable = True


class InvalidRequestError(LogdError):
    """A request that is malformed or makes no sense."""

    code = ErrorCode.INVALID_REQUEST


class PolicyViolationError(LogdError):
    """The request is well-formed but the broker's policy refuses it."""

    code = ErrorCode.POLICY_VIOLATION


class OutOfOrderSequenceError(LogdError):
    """A produce batch's sequence leaves a gap after the last one the leader has."""

    code = ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


class InvalidProducerEpochError(LogdError):
    """The producer epoch is older than the one the leader knows."""

    code = ErrorCode.INVALID_PRODUCER_EPOCH


class KafkaStorageError(LogdError):
    """The broker's disk failed for this partition."""

    code = ErrorCode.KAFKA_STORAGE_ERROR
    retriable = True


class DiskFullError(KafkaStorageError):
    """A write was refused, or failed, because the disk holding it has no room: below the
    free-space reserve (``storage.min.free.*``) or out of space (ENOSPC). Retriable: it
    clears by itself once space returns. Same wire code as :class:`KafkaStorageError`;
    front ends whose protocol says "quota" tell it apart (MQTT's 0x97)."""


class UnknownProducerIdError(LogdError):
    """The leader holds no state for this producer id (expired or never seen)."""

    code = ErrorCode.UNKNOWN_PRODUCER_ID


class NonEmptyGroupError(LogdError):
    """The operation needs a group without live members."""

    code = ErrorCode.NON_EMPTY_GROUP


class GroupIdNotFoundError(LogdError):
    """No group of that id exists."""

    code = ErrorCode.GROUP_ID_NOT_FOUND


class GroupSubscribedToTopicError(LogdError):
    """The group's members subscribe to the topic: its offsets cannot be deleted now."""

    code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC


class OffsetMetadataTooLargeError(LogdError):
    """An offset's metadata string is longer than ``offset.metadata.max.bytes``."""

    code = ErrorCode.OFFSET_METADATA_TOO_LARGE


class FencedLeaderEpochError(LogdError):
    """The request names a leader epoch older than the current one."""

    code = ErrorCode.FENCED_LEADER_EPOCH
    retriable = True


class UnsupportedCompressionTypeError(LogdError):
    """A compression codec this build cannot read (zstd without ``zstandard``, say)."""

    code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE


class MemberIdRequiredError(LogdError):
    """The first join of a dynamic member: rejoin with the member id given."""

    code = ErrorCode.MEMBER_ID_REQUIRED

    def __init__(self, message: str = "", member_id: str = "") -> None:
        super().__init__(message)
        self.member_id = member_id


class GroupMaxSizeReachedError(LogdError):
    """The group has as many members as it may have."""

    code = ErrorCode.GROUP_MAX_SIZE_REACHED


class FencedMemberEpochError(LogdError):
    """A consumer-protocol member's epoch is not its current one: it must rejoin (KIP-848)."""

    code = ErrorCode.FENCED_MEMBER_EPOCH


class UnsupportedAssignorError(LogdError):
    """The server-side assignor a member asked for does not exist (KIP-848)."""

    code = ErrorCode.UNSUPPORTED_ASSIGNOR


class StaleMemberEpochError(LogdError):
    """An offset commit or fetch carried an older member epoch than the member's (KIP-848)."""

    code = ErrorCode.STALE_MEMBER_EPOCH
    retriable = True


class UnreleasedInstanceIdError(LogdError):
    """A static member (``group.instance.id``) joined while the member with that instance
    id is still in the group and has not left with epoch -2 (KIP-848)."""

    code = ErrorCode.UNRELEASED_INSTANCE_ID


class InvalidRegularExpressionError(LogdError):
    """A subscription's regular expression is not one the broker can evaluate (KIP-848)."""

    code = ErrorCode.INVALID_REGULAR_EXPRESSION


class FencedInstanceIdError(LogdError):
    """Another member with the same ``group.instance.id`` took this one's place."""

    code = ErrorCode.FENCED_INSTANCE_ID


class ProducerFencedError(LogdError):
    """A newer producer with the same id fenced this one."""

    code = ErrorCode.PRODUCER_FENCED


class InvalidFetchSizeError(LogdError):
    """A fetch size that is negative or zero."""

    code = ErrorCode.INVALID_FETCH_SIZE


class ReplicaNotAvailableError(LogdError):
    """A replica of the partition is not available on this broker right now."""

    code = ErrorCode.REPLICA_NOT_AVAILABLE
    retriable = True


class NetworkError(LogdError):
    """The connection broke before an answer arrived; the request may or may not have applied."""

    code = ErrorCode.NETWORK_EXCEPTION
    retriable = True


class NotEnoughReplicasAfterAppendError(LogdError):
    """The batch was appended but lost its quorum before it committed."""

    code = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
    retriable = True


class InvalidCommitOffsetSizeError(LogdError):
    """Committed offset metadata is larger than allowed."""

    code = ErrorCode.INVALID_COMMIT_OFFSET_SIZE


class InvalidReplicaAssignmentError(LogdError):
    """A replica assignment that names unknown brokers or one broker twice."""

    code = ErrorCode.INVALID_REPLICA_ASSIGNMENT


class ReassignmentInProgressError(LogdError):
    """The partition is being moved already: one move per partition at a time."""

    code = ErrorCode.REASSIGNMENT_IN_PROGRESS


class NoReassignmentInProgressError(LogdError):
    """A move was to be cancelled, but the partition is not moving."""

    code = ErrorCode.NO_REASSIGNMENT_IN_PROGRESS


class BrokerIdNotRegisteredError(LogdError):
    """No broker of that id is registered (Kafka's UnregisterBroker of an unknown id)."""

    code = ErrorCode.BROKER_ID_NOT_REGISTERED


class DuplicateSequenceError(LogdError):
    """A batch the leader has already appended (answered with its original offsets)."""

    code = ErrorCode.DUPLICATE_SEQUENCE_NUMBER


class UnknownLeaderEpochError(LogdError):
    """The request names a leader epoch newer than this broker knows."""

    code = ErrorCode.UNKNOWN_LEADER_EPOCH
    retriable = True


class InvalidRecordError(LogdError):
    """A record that is well-formed but not acceptable (e.g. a bad timestamp)."""

    code = ErrorCode.INVALID_RECORD


# -- security (issue 15): authentication, authorization, quotas ---------------------------


class SaslAuthenticationFailedError(LogdError):
    """Wrong password, unknown user, bad proof: one answer for all, so none leaks which."""

    code = ErrorCode.SASL_AUTHENTICATION_FAILED


class UnsupportedSaslMechanismError(LogdError):
    """The client asked for a SASL mechanism this listener does not enable."""

    code = ErrorCode.UNSUPPORTED_SASL_MECHANISM


class IllegalSaslStateError(LogdError):
    """A SASL message arrived out of order (a second first message, a request before auth)."""

    code = ErrorCode.ILLEGAL_SASL_STATE


class SecurityDisabledError(LogdError):
    """A security call (ACLs, SCRAM users) on a cluster whose authorizer is off."""

    code = ErrorCode.SECURITY_DISABLED


class TopicAuthorizationFailedError(LogdError):
    """The principal may not perform the operation on the named topic."""

    code = ErrorCode.TOPIC_AUTHORIZATION_FAILED


class GroupAuthorizationFailedError(LogdError):
    """The principal may not perform the operation on the named consumer group."""

    code = ErrorCode.GROUP_AUTHORIZATION_FAILED


class ClusterAuthorizationFailedError(LogdError):
    """The principal may not perform the cluster-level operation (or is not a broker)."""

    code = ErrorCode.CLUSTER_AUTHORIZATION_FAILED


class TransactionalIdAuthorizationFailedError(LogdError):
    """The principal may not use the transactional id."""

    code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


class SubjectAuthorizationFailedError(LogdError):
    """The principal may not perform the operation on the schema-registry subject."""

    code = ErrorCode.SUBJECT_AUTHORIZATION_FAILED


class InvalidPrincipalTypeError(LogdError):
    """A principal that is not ``Type:name`` (ACL bindings take ``User:NAME``)."""

    code = ErrorCode.INVALID_PRINCIPAL_TYPE


class ThrottlingQuotaExceededError(LogdError):
    """A controller-mutation quota was exceeded (Kafka's code; byte-rate quotas throttle)."""

    code = ErrorCode.THROTTLING_QUOTA_EXCEEDED
    retriable = True


class ResourceNotFoundError(LogdError):
    """The user, ACL or quota named does not exist."""

    code = ErrorCode.RESOURCE_NOT_FOUND


class DuplicateResourceError(LogdError):
    """The same user and mechanism named twice in one request."""

    code = ErrorCode.DUPLICATE_RESOURCE


class UnacceptableCredentialError(LogdError):
    """A SCRAM credential refused: iterations out of range, empty password or salt."""

    code = ErrorCode.UNACCEPTABLE_CREDENTIAL


def _by_code() -> dict[int, type[LogdError]]:
    """Code -> the class of this module for it. Subclasses elsewhere (a client's own
    errors, which keep their parent's code) never stand for a wire code."""
    table: dict[int, type[LogdError]] = {}
    stack: list[type[LogdError]] = [LogdError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is not LogdError and cls.__module__ == __name__:
            table.setdefault(int(cls.code), cls)
    return table


_BY_CODE: dict[int, type[LogdError]] | None = None


def error_for_code(code: int, message: str = "") -> LogdError:
    """The exception for a wire code; an unknown code becomes :class:`UnknownServerError`."""
    global _BY_CODE  # noqa: PLW0603 - built once, on first use, after every subclass exists
    if _BY_CODE is None:
        _BY_CODE = _by_code()
    cls = _BY_CODE.get(code)
    if cls is None:
        return UnknownServerError(message or f"unknown error code {code}")
    return cls(message)
