"""Conversions between ``logd.v1.GroupCoordinator`` messages and the types of ``logd.groups``.

The proto and ``logd.groups.messages`` mirror each other field for field; what differs is
spelled here once: "" on the wire is ``None`` for a group instance id; an error code travels
in an ``Error`` field built by the one helper (``logd.frontends.grpc.errors.error_proto``). Counts a
client controls are checked before anything is built from them. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from logd.broker.seam import CoordinatorLocation
from logd.errors import ErrorCode, InvalidRequestError, error_for_code
from logd.frontends.grpc.convert import check_count
from logd.frontends.grpc.errors import error_proto
from logd.groups import messages as m
from logd.groups.state import GroupState
from logd.v1 import common_pb2, group_pb2

__all__ = [
    "client_host",
    "commit_request",
    "commit_response",
    "coordinators_response",
    "delete_response",
    "describe_response",
    "fetch_partitions",
    "fetch_response",
    "heartbeat_request",
    "heartbeat_response",
    "join_request",
    "join_response",
    "leave_request",
    "leave_response",
    "list_response",
    "list_states",
    "sync_request",
    "sync_response",
]


def _error(code: ErrorCode, message: str = "") -> common_pb2.Error | None:
    return None if code is ErrorCode.NONE else error_proto(error_for_code(int(code), message))


def _instance(value: str) -> str | None:
    return value or None


def client_host(peer: str) -> str:
    """gRPC's peer ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000") as Kafka's client host."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer
    host = rest.rpartition(":")[0]
    return host.strip("[]")


# -- membership ---------------------------------------------------------------------------


def join_request(request: Any, host: str) -> m.JoinGroupRequest:
    check_count("protocols", len(request.protocols))
    return m.JoinGroupRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        protocol_type=request.protocol_type,
        protocols=tuple(m.JoinGroupProtocol(p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=request.rebalance_timeout_ms,
        group_instance_id=_instance(request.group_instance_id),
        client_id=request.client_id,
        client_host=host,
    )


def join_response(r: m.JoinGroupResponse) -> group_pb2.JoinGroupResponse:
    return group_pb2.JoinGroupResponse(
        error=_error(r.error, r.error_message),
        generation_id=r.generation_id,
        protocol_type=r.protocol_type,
        protocol_name=r.protocol_name,
        leader_id=r.leader_id,
        member_id=r.member_id,
        members=[
            group_pb2.JoinGroupMember(
                member_id=x.member_id,
                group_instance_id=x.group_instance_id or "",
                metadata=x.metadata,
            )
            for x in r.members
        ],
    )


def sync_request(request: Any) -> m.SyncGroupRequest:
    check_count("assignments", len(request.assignments))
    return m.SyncGroupRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        assignments=tuple(
            m.SyncGroupAssignment(a.member_id, bytes(a.assignment)) for a in request.assignments
        ),
        group_instance_id=_instance(request.group_instance_id),
        protocol_type=request.protocol_type,
        protocol_name=request.protocol_name,
    )


def sync_response(r: m.SyncGroupResponse) -> group_pb2.SyncGroupResponse:
    return group_pb2.SyncGroupResponse(
        error=_error(r.error, r.error_message),
        protocol_type=r.protocol_type,
        protocol_name=r.protocol_name,
        assignment=r.assignment,
    )


def heartbeat_request(request: Any) -> m.HeartbeatRequest:
    return m.HeartbeatRequest(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=_instance(request.group_instance_id),
    )


def heartbeat_response(r: m.HeartbeatResponse) -> group_pb2.HeartbeatResponse:
    return group_pb2.HeartbeatResponse(error=_error(r.error, r.error_message))


def leave_request(request: Any) -> m.LeaveGroupRequest:
    check_count("members", len(request.members))
    return m.LeaveGroupRequest(
        group_id=request.group_id,
        members=tuple(
            m.LeaveGroupMember(x.member_id, _instance(x.group_instance_id)) for x in request.members
        ),
    )


def leave_response(r: m.LeaveGroupResponse) -> group_pb2.LeaveGroupResponse:
    return group_pb2.LeaveGroupResponse(
        error=_error(r.error, r.error_message),
        members=[
            group_pb2.LeaveGroupMemberResult(
                member_id=x.member_id,
                group_instance_id=x.group_instance_id or "",
                error=_error(x.error),
            )
            for x in r.members
        ],
    )


# -- offsets ------------------------------------------------------------------------------


def commit_request(request: Any) -> m.OffsetCommitRequest:
    check_count("partitions", len(request.partitions))
    return m.OffsetCommitRequest(
        group_id=request.group_id,
        partitions=tuple(
            m.OffsetCommitPartition(p.topic, p.partition, p.offset, p.leader_epoch, p.metadata)
            for p in request.partitions
        ),
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=_instance(request.group_instance_id),
    )


def commit_response(r: m.OffsetCommitResponse) -> group_pb2.OffsetCommitResponse:
    return group_pb2.OffsetCommitResponse(
        partitions=[
            group_pb2.OffsetCommitPartitionResult(
                topic=p.topic, partition=p.partition, error=_error(p.error, r.error_message)
            )
            for p in r.partitions
        ]
    )


def fetch_partitions(request: Any) -> list[m.TopicPartition] | None:
    check_count("partitions", len(request.partitions))
    if not request.partitions:
        return None
    return [m.TopicPartition(p.topic, p.partition) for p in request.partitions]


def fetch_response(r: m.OffsetFetchResponse) -> group_pb2.OffsetFetchResponse:
    return group_pb2.OffsetFetchResponse(
        error=_error(r.error, r.error_message),
        partitions=[
            group_pb2.OffsetFetchPartition(
                topic=p.topic,
                partition=p.partition,
                offset=p.offset,
                leader_epoch=p.leader_epoch,
                metadata=p.metadata,
                error=_error(p.error),
            )
            for p in r.partitions
        ],
    )


# -- administration -----------------------------------------------------------------------


def coordinators_response(
    found: Sequence[CoordinatorLocation],
) -> group_pb2.FindCoordinatorResponse:
    return group_pb2.FindCoordinatorResponse(
        coordinators=[
            group_pb2.Coordinator(
                group_id=c.group_id,
                error=error_proto(c.error),
                node_id=c.node_id,
                host=c.host,
                port=c.port,
                offsets_partition=c.partition,
            )
            for c in found
        ]
    )


def list_states(request: Any) -> list[GroupState]:
    check_count("states", len(request.states_filter))
    states = []
    for name in request.states_filter:
        state = GroupState.parse(name)
        if state is None:
            known = ", ".join(s.value for s in GroupState)
            raise InvalidRequestError(f"unknown group state {name!r} (known: {known})")
        states.append(state)
    return states


def list_response(r: m.ListGroupsResponse) -> group_pb2.ListGroupsResponse:
    return group_pb2.ListGroupsResponse(
        error=_error(r.error),
        groups=[
            group_pb2.GroupListing(
                group_id=g.group_id, protocol_type=g.protocol_type, state=g.state.value
            )
            for g in r.groups
        ],
    )


def _offsets(offsets: m.GroupOffsets | None) -> list[group_pb2.GroupPartitionOffset]:
    if offsets is None:
        return []
    return [
        group_pb2.GroupPartitionOffset(
            topic=p.topic,
            partition=p.partition,
            committed_offset=p.committed_offset,
            leader_epoch=p.leader_epoch,
            metadata=p.metadata,
            member_id=p.member_id,
            group_instance_id=p.group_instance_id or "",
            client_id=p.client_id,
            client_host=p.client_host,
        )
        for p in offsets.partitions
    ]


def describe_response(
    described: Sequence[tuple[m.DescribedGroup, m.GroupOffsets | None]],
) -> group_pb2.DescribeGroupsResponse:
    return group_pb2.DescribeGroupsResponse(
        groups=[
            group_pb2.GroupDescription(
                group_id=g.group_id,
                error=_error(g.error),
                state=g.state.value,
                protocol_type=g.protocol_type,
                protocol_name=g.protocol_name,
                generation_id=g.generation_id,
                leader_id=g.leader_id,
                members=[
                    group_pb2.GroupMemberDescription(
                        member_id=x.member_id,
                        group_instance_id=x.group_instance_id or "",
                        client_id=x.client_id,
                        client_host=x.client_host,
                        metadata=x.metadata,
                        assignment=x.assignment,
                    )
                    for x in g.members
                ],
                offsets=_offsets(offsets),
            )
            for g, offsets in described
        ]
    )


def delete_response(r: m.DeleteGroupsResponse) -> group_pb2.DeleteGroupsResponse:
    return group_pb2.DeleteGroupsResponse(
        results=[
            group_pb2.DeleteGroupResult(group_id=x.group_id, error=_error(x.error))
            for x in r.results
        ]
    )
