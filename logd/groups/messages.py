"""Requests into and responses out of the group coordinator core: frozen dataclasses.

They mirror ``proto/logd/v1/group.proto`` (and Kafka's classic group protocol) field for
field, minus transport details, so the gRPC servicer converts one to the other without
thinking and a future Kafka-wire listener can do the same. Conventions:

* errors are :class:`~logd.errors.ErrorCode` values; ``ErrorCode.NONE`` means success. Where
  the wire has a per-item ``Error``, the core has a per-item ``error`` field.
* ``""`` means "none" for member ids, protocol type and protocol name (as Kafka's wire);
  ``None`` means "no group instance id" (a dynamic member).
* a generation id of -1 means "no generation" (Kafka's ``NoGeneration``): in an OffsetCommit
  it marks a simple (standalone) commit, in a JoinGroup answer an error.

Immutable values; safe to share between threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from logd.errors import ErrorCode
from logd.groups.consumer_group import ConsumerGroupState, ConsumerHeartbeatAnswer
from logd.groups.state import GroupState
from partitioning.model import TopicPartition

__all__ = [
    "NO_GENERATION",
    "NO_OFFSET",
    "Body",
    "DeleteGroupResult",
    "DeleteGroupsResponse",
    "DescribeGroupsResponse",
    "DescribedGroup",
    "DescribedMember",
    "GroupListing",
    "GroupOffsets",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "JoinGroupMember",
    "JoinGroupProtocol",
    "JoinGroupRequest",
    "JoinGroupResponse",
    "LeaveGroupMember",
    "LeaveGroupRequest",
    "LeaveGroupResponse",
    "LeaveMemberResult",
    "ListGroupsResponse",
    "OffsetCommitPartition",
    "OffsetCommitPartitionResult",
    "OffsetCommitRequest",
    "OffsetCommitResponse",
    "OffsetDeletePartitionResult",
    "OffsetDeleteRequest",
    "OffsetDeleteResponse",
    "OffsetFetchPartition",
    "OffsetFetchResponse",
    "PartitionOffset",
    "Response",
    "SyncGroupAssignment",
    "SyncGroupRequest",
    "SyncGroupResponse",
    "TopicPartition",  # partitioning's, re-exported: one for every layer
]

NO_GENERATION = -1
NO_OFFSET = -1
"""The offset answered for a partition without a committed offset (Kafka's INVALID_OFFSET)."""


# --------------------------------------------------------------------------- JoinGroup


@dataclass(frozen=True, slots=True)
class JoinGroupProtocol:
    """One protocol the member supports (for consumers: an assignor such as "range") with
    the member's subscription for it, opaque to the coordinator."""

    name: str
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinGroupRequest:
    """``protocols`` in the member's order of preference. ``member_id`` is "" on a first
    join; a dynamic member is then answered MEMBER_ID_REQUIRED with its new id (KIP-394)
    unless ``require_known_member_id`` is False (JoinGroup v0-v3 on a Kafka-wire front
    end). ``rebalance_timeout_ms`` <= 0 means "same as the session timeout" (JoinGroup v0)."""

    group_id: str
    member_id: str
    protocol_type: str
    protocols: tuple[JoinGroupProtocol, ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    require_known_member_id: bool = True


@dataclass(frozen=True, slots=True)
class JoinGroupMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinGroupResponse:
    """``members`` (with their subscriptions for ``protocol_name``) only for the leader,
    which computes everyone's assignment and sends it in its SyncGroup."""

    error: ErrorCode
    member_id: str
    generation_id: int = NO_GENERATION
    protocol_type: str = ""
    protocol_name: str = ""
    leader_id: str = ""
    members: tuple[JoinGroupMember, ...] = ()
    error_message: str = ""


# --------------------------------------------------------------------------- SyncGroup


@dataclass(frozen=True, slots=True)
class SyncGroupAssignment:
    member_id: str
    assignment: bytes


@dataclass(frozen=True, slots=True)
class SyncGroupRequest:
    """Only the leader's ``assignments`` are used; a member left out gets empty bytes.
    ``protocol_type``/``protocol_name``, when not "", must match the group's (KIP-559)."""

    group_id: str
    generation_id: int
    member_id: str
    assignments: tuple[SyncGroupAssignment, ...] = ()
    group_instance_id: str | None = None
    protocol_type: str = ""
    protocol_name: str = ""


@dataclass(frozen=True, slots=True)
class SyncGroupResponse:
    error: ErrorCode
    assignment: bytes = b""
    protocol_type: str = ""
    protocol_name: str = ""
    error_message: str = ""


# --------------------------------------------------------------------------- Heartbeat


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    """REBALANCE_IN_PROGRESS tells the member to rejoin."""

    error: ErrorCode
    error_message: str = ""


# --------------------------------------------------------------------------- LeaveGroup


@dataclass(frozen=True, slots=True)
class LeaveGroupMember:
    """A member that leaves. An admin removes a static member by ``group_instance_id`` alone
    (``member_id`` "")."""

    member_id: str
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveGroupRequest:
    group_id: str
    members: tuple[LeaveGroupMember, ...]


@dataclass(frozen=True, slots=True)
class LeaveMemberResult:
    member_id: str
    group_instance_id: str | None
    error: ErrorCode


@dataclass(frozen=True, slots=True)
class LeaveGroupResponse:
    error: ErrorCode
    members: tuple[LeaveMemberResult, ...] = ()
    error_message: str = ""


# --------------------------------------------------------------------------- OffsetCommit


@dataclass(frozen=True, slots=True)
class OffsetCommitPartition:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str = ""


@dataclass(frozen=True, slots=True)
class OffsetCommitRequest:
    """A group member commits with its ``generation_id`` and ``member_id`` (fenced when
    either is stale); a standalone consumer commits with generation -1 and member id "",
    which only an empty group accepts."""

    group_id: str
    partitions: tuple[OffsetCommitPartition, ...]
    generation_id: int = NO_GENERATION
    member_id: str = ""
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class OffsetCommitPartitionResult:
    topic: str
    partition: int
    error: ErrorCode


@dataclass(frozen=True, slots=True)
class OffsetCommitResponse:
    partitions: tuple[OffsetCommitPartitionResult, ...]
    error_message: str = ""


# --------------------------------------------------------------------------- OffsetFetch


@dataclass(frozen=True, slots=True)
class OffsetFetchPartition:
    """``offset`` is :data:`NO_OFFSET` when nothing is committed for the partition."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    error: ErrorCode = ErrorCode.NONE


@dataclass(frozen=True, slots=True)
class OffsetFetchResponse:
    error: ErrorCode
    partitions: tuple[OffsetFetchPartition, ...] = ()
    error_message: str = ""


# --------------------------------------------------------------------------- OffsetDelete


@dataclass(frozen=True, slots=True)
class OffsetDeleteRequest:
    """Delete the group's committed offsets of ``partitions`` (KIP-496)."""

    group_id: str
    partitions: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class OffsetDeletePartitionResult:
    topic: str
    partition: int
    error: ErrorCode


@dataclass(frozen=True, slots=True)
class OffsetDeleteResponse:
    """``error`` is the group's (then ``partitions`` is empty); each partition asked has
    its own otherwise."""

    error: ErrorCode
    partitions: tuple[OffsetDeletePartitionResult, ...] = ()


# --------------------------------------------------------------------------- admin


@dataclass(frozen=True, slots=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: GroupState | ConsumerGroupState
    #: Kafka's group type (ListGroups v5): "classic", or "consumer" (KIP-848).
    group_type: str = "classic"


@dataclass(frozen=True, slots=True)
class ListGroupsResponse:
    error: ErrorCode
    groups: tuple[GroupListing, ...] = ()


@dataclass(frozen=True, slots=True)
class DescribedMember:
    """``metadata`` (the subscription for the group's protocol) and ``assignment`` are
    filled only in the Stable state, as in Kafka."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class DescribedGroup:
    """A group that does not exist is described as Dead with no members (as Kafka)."""

    group_id: str
    error: ErrorCode
    state: GroupState
    protocol_type: str = ""
    protocol_name: str = ""
    generation_id: int = NO_GENERATION
    leader_id: str = ""
    members: tuple[DescribedMember, ...] = ()


@dataclass(frozen=True, slots=True)
class DescribeGroupsResponse:
    groups: tuple[DescribedGroup, ...]


@dataclass(frozen=True, slots=True)
class DeleteGroupResult:
    group_id: str
    error: ErrorCode


@dataclass(frozen=True, slots=True)
class DeleteGroupsResponse:
    results: tuple[DeleteGroupResult, ...]


@dataclass(frozen=True, slots=True)
class PartitionOffset:
    """One partition of ``group describe``: the committed offset (or :data:`NO_OFFSET`) and
    the member it is assigned to ("" when none)."""

    topic: str
    partition: int
    committed_offset: int
    leader_epoch: int
    metadata: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str


@dataclass(frozen=True, slots=True)
class GroupOffsets:
    group_id: str
    error: ErrorCode
    state: GroupState
    partitions: tuple[PartitionOffset, ...] = ()


# --------------------------------------------------------------------------- output


Body = (
    JoinGroupResponse
    | SyncGroupResponse
    | HeartbeatResponse
    | LeaveGroupResponse
    | OffsetCommitResponse
    | OffsetDeleteResponse
    | DeleteGroupsResponse
    | ConsumerHeartbeatAnswer
)


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to the request the driver submitted with ``request_id``."""

    request_id: int
    body: Body
