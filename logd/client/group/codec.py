"""The client's side of ``logd.v1.GroupCoordinator``: protobufs built and read here only.

The membership machine (:mod:`~logd.client.group.machine`) speaks ``logd.groups.messages``
-- the coordinator core's own requests and answers, which mirror ``group.proto`` field for
field -- and this module turns them into protobufs and back, as the broker's gRPC front end
does on its side. What differs from the wire is spelled here once: "" on the wire is
``None`` for a group instance id; an ``Error`` field is an :class:`~logd.errors.ErrorCode`
and a message (a code this client does not know becomes UNKNOWN_SERVER_ERROR, its number
kept in the message). LeaveGroup's ``reason`` travels only on the wire (the core has no
use for it). Group administration's calls (:mod:`~logd.client.group.admin`) and
FindCoordinator (:mod:`~logd.client.group.link`) are built and read here too.

Pure functions: thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from logd.client.group.assign import assigned_partitions
from logd.client.group.types import GroupDescription, GroupListing, GroupMember, GroupPartition
from logd.client.transport.rpc import error_from_proto
from logd.client.types import PartitionKey, TopicPartition
from logd.errors import ErrorCode, LogdError
from logd.groups import messages as m
from logd.v1 import common_pb2, group_pb2
from partitioning import ProtocolDecodeError

__all__ = [
    "Coordinator",
    "commit_error",
    "commit_request",
    "coordinator",
    "delete_error",
    "delete_request",
    "describe_error",
    "describe_request",
    "described_partitions",
    "description",
    "fetch_error",
    "fetch_request",
    "fetch_response",
    "find_coordinator_request",
    "heartbeat_request",
    "heartbeat_response",
    "join_request",
    "join_response",
    "leave_request",
    "list_error",
    "list_request",
    "listings",
    "sync_request",
    "sync_response",
]


def _code(error: Any) -> tuple[ErrorCode, str]:
    """An ``Error`` field as (code, message)."""
    try:
        return ErrorCode(error.code), error.message
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR, f"unknown error code {error.code}: {error.message}"


def _instance(value: str) -> str | None:
    return value or None


# -- membership ---------------------------------------------------------------------------


def join_request(r: m.JoinGroupRequest) -> group_pb2.JoinGroupRequest:
    return group_pb2.JoinGroupRequest(
        group_id=r.group_id,
        session_timeout_ms=r.session_timeout_ms,
        rebalance_timeout_ms=r.rebalance_timeout_ms,
        member_id=r.member_id,
        group_instance_id=r.group_instance_id or "",
        protocol_type=r.protocol_type,
        protocols=[
            group_pb2.JoinGroupProtocol(name=p.name, metadata=p.metadata) for p in r.protocols
        ],
        client_id=r.client_id,
    )


def join_response(resp: Any) -> m.JoinGroupResponse:
    error, message = _code(resp.error)
    return m.JoinGroupResponse(
        error=error,
        member_id=resp.member_id,
        generation_id=resp.generation_id,
        protocol_type=resp.protocol_type,
        protocol_name=resp.protocol_name,
        leader_id=resp.leader_id,
        members=tuple(
            m.JoinGroupMember(x.member_id, _instance(x.group_instance_id), bytes(x.metadata))
            for x in resp.members
        ),
        error_message=message,
    )


def sync_request(r: m.SyncGroupRequest) -> group_pb2.SyncGroupRequest:
    return group_pb2.SyncGroupRequest(
        group_id=r.group_id,
        generation_id=r.generation_id,
        member_id=r.member_id,
        group_instance_id=r.group_instance_id or "",
        protocol_type=r.protocol_type,
        protocol_name=r.protocol_name,
        assignments=[
            group_pb2.SyncGroupAssignment(member_id=a.member_id, assignment=a.assignment)
            for a in r.assignments
        ],
    )


def sync_response(resp: Any) -> m.SyncGroupResponse:
    error, message = _code(resp.error)
    return m.SyncGroupResponse(
        error=error,
        assignment=bytes(resp.assignment),
        protocol_type=resp.protocol_type,
        protocol_name=resp.protocol_name,
        error_message=message,
    )


def heartbeat_request(r: m.HeartbeatRequest) -> group_pb2.HeartbeatRequest:
    return group_pb2.HeartbeatRequest(
        group_id=r.group_id,
        generation_id=r.generation_id,
        member_id=r.member_id,
        group_instance_id=r.group_instance_id or "",
    )


def heartbeat_response(resp: Any) -> m.HeartbeatResponse:
    error, message = _code(resp.error)
    return m.HeartbeatResponse(error, message)


def leave_request(r: m.LeaveGroupRequest, reason: str) -> group_pb2.LeaveGroupRequest:
    return group_pb2.LeaveGroupRequest(
        group_id=r.group_id,
        members=[
            group_pb2.MemberIdentity(
                member_id=x.member_id, group_instance_id=x.group_instance_id or "", reason=reason
            )
            for x in r.members
        ],
    )


# -- offsets ------------------------------------------------------------------------------


def commit_request(r: m.OffsetCommitRequest) -> group_pb2.OffsetCommitRequest:
    return group_pb2.OffsetCommitRequest(
        group_id=r.group_id,
        generation_id=r.generation_id,
        member_id=r.member_id,
        group_instance_id=r.group_instance_id or "",
        partitions=[
            group_pb2.OffsetCommitPartition(
                topic=p.topic,
                partition=p.partition,
                offset=p.offset,
                leader_epoch=p.leader_epoch,
                metadata=p.metadata,
            )
            for p in r.partitions
        ],
    )


def commit_error(resp: Any) -> LogdError | None:
    """The first partition's error of an OffsetCommit answer (None: all committed)."""
    for p in resp.partitions:
        error = error_from_proto(p.error)
        if error is not None:
            return error
    return None


def fetch_request(
    group_id: str, partitions: Iterable[PartitionKey]
) -> group_pb2.OffsetFetchRequest:
    return group_pb2.OffsetFetchRequest(
        group_id=group_id,
        partitions=[common_pb2.TopicPartition(topic=t, partition=p) for t, p in partitions],
    )


def fetch_error(resp: Any) -> LogdError | None:
    """The error of an OffsetFetch answer as a whole."""
    return error_from_proto(resp.error)


def fetch_response(resp: Any) -> dict[PartitionKey, int]:
    """The committed offsets of an OffsetFetch answer (partitions without one left out);
    raises its error, or the first partition's."""
    error = error_from_proto(resp.error)
    if error is not None:
        raise error
    found: dict[PartitionKey, int] = {}
    for p in resp.partitions:
        error = error_from_proto(p.error)
        if error is not None:
            raise error
        if p.offset >= 0:
            found[(p.topic, p.partition)] = p.offset
    return found


# -- the coordinator and group administration ---------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Coordinator:
    """A FindCoordinator answer for one group: where, or why not."""

    error: LogdError | None
    node_id: int
    host: str
    port: int


def find_coordinator_request(group_id: str) -> group_pb2.FindCoordinatorRequest:
    return group_pb2.FindCoordinatorRequest(group_ids=[group_id])


def coordinator(resp: Any) -> Coordinator:
    (found,) = resp.coordinators
    return Coordinator(error_from_proto(found.error), found.node_id, found.host, found.port)


def list_request() -> group_pb2.ListGroupsRequest:
    return group_pb2.ListGroupsRequest()


def list_error(resp: Any) -> LogdError | None:
    return error_from_proto(resp.error)


def listings(resp: Any, coordinator_id: int) -> list[GroupListing]:
    """The groups of a ListGroups answer from broker ``coordinator_id``."""
    return [GroupListing(g.group_id, g.state, g.protocol_type, coordinator_id) for g in resp.groups]


def describe_request(group_id: str) -> group_pb2.DescribeGroupsRequest:
    return group_pb2.DescribeGroupsRequest(group_ids=[group_id], include_offsets=True)


def describe_error(resp: Any) -> LogdError | None:
    """The error of the one group of a DescribeGroups answer."""
    return error_from_proto(resp.groups[0].error)


def described_partitions(resp: Any) -> set[PartitionKey]:
    """The partitions the described group has committed offsets for (or owns)."""
    return {(o.topic, o.partition) for o in resp.groups[0].offsets}


def description(
    resp: Any, coordinator_id: int, log_ends: Mapping[PartitionKey, int]
) -> GroupDescription:
    """The one group of a DescribeGroups answer, each partition's lag taken against
    ``log_ends`` (-1 or missing: unknown, no lag). State names are kept as the broker
    spells them (Kafka's: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead)."""
    (g,) = resp.groups
    members = [
        GroupMember(
            x.member_id, _instance(x.group_instance_id), x.client_id, x.client_host,
            _assignment(bytes(x.assignment)),
        )
        for x in g.members
    ]  # fmt: skip
    return GroupDescription(
        group_id=g.group_id,
        state=g.state,
        protocol_type=g.protocol_type,
        protocol=g.protocol_name,
        generation_id=g.generation_id,
        leader_id=g.leader_id,
        coordinator_id=coordinator_id,
        members=members,
        partitions=[_partition(o, log_ends.get((o.topic, o.partition), -1)) for o in g.offsets],
    )


def _assignment(data: bytes) -> list[TopicPartition]:
    try:
        return [TopicPartition(t, p) for t, p in assigned_partitions(data)]
    except ProtocolDecodeError:
        return []


def _partition(o: Any, log_end: int) -> GroupPartition:
    committed = o.committed_offset
    lag = max(log_end - committed, 0) if committed >= 0 and log_end >= 0 else None
    return GroupPartition(
        topic=o.topic,
        partition=o.partition,
        committed_offset=committed,
        log_end_offset=log_end,
        lag=lag,
        member_id=o.member_id,
        client_id=o.client_id,
        host=o.client_host,
        group_instance_id=_instance(o.group_instance_id),
    )


def delete_request(group_id: str) -> group_pb2.DeleteGroupsRequest:
    return group_pb2.DeleteGroupsRequest(group_ids=[group_id])


def delete_error(resp: Any) -> LogdError | None:
    return error_from_proto(resp.results[0].error)
