"""The thin gRPC servicer of ``logd.v1.GroupCoordinator`` (STYLE.md 14).

Each method parses (``group_convert``), calls the group calls of the broker's seam
(``logd.broker.seam``), and builds the answer; errors of a request
as a whole are mapped by ``logd.frontends.grpc.errors`` alone (the unary wrapper in ``handlers``
applies it), per-item errors travel in the answers' ``Error`` fields. No group logic here.

Ownership: one instance per server, on the broker's event loop.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from logd.broker.seam import BrokerSeam
from logd.frontends.grpc import group_convert as convert
from logd.frontends.grpc.convert import check_count
from logd.frontends.grpc.handlers import caller_of, service_handler, unary_unary
from logd.v1 import group_pb2

__all__ = ["GROUP_SERVICE", "GroupCoordinatorService"]

GROUP_SERVICE = group_pb2.DESCRIPTOR.services_by_name["GroupCoordinator"].full_name

_Ctx: TypeAlias = grpc.aio.ServicerContext


class GroupCoordinatorService:
    """``GroupCoordinator``: membership, offsets and group administration."""

    def __init__(self, groups: BrokerSeam) -> None:
        self._groups = groups

    def handler(self) -> grpc.GenericRpcHandler:
        methods = {
            "FindCoordinator": (self.find_coordinator, group_pb2.FindCoordinatorRequest),
            "JoinGroup": (self.join_group, group_pb2.JoinGroupRequest),
            "SyncGroup": (self.sync_group, group_pb2.SyncGroupRequest),
            "Heartbeat": (self.heartbeat, group_pb2.HeartbeatRequest),
            "LeaveGroup": (self.leave_group, group_pb2.LeaveGroupRequest),
            "OffsetCommit": (self.offset_commit, group_pb2.OffsetCommitRequest),
            "OffsetFetch": (self.offset_fetch, group_pb2.OffsetFetchRequest),
            "ListGroups": (self.list_groups, group_pb2.ListGroupsRequest),
            "DescribeGroups": (self.describe_groups, group_pb2.DescribeGroupsRequest),
            "DeleteGroups": (self.delete_groups, group_pb2.DeleteGroupsRequest),
        }
        return service_handler(
            GROUP_SERVICE,
            {
                name: unary_unary(name, fn, kind, self._groups.telemetry)
                for name, (fn, kind) in methods.items()
            },
        )

    async def find_coordinator(self, request: Any, context: _Ctx) -> Any:
        check_count("group ids", len(request.group_ids))
        found = await self._groups.find_coordinators(
            list(request.group_ids), caller=caller_of(context)
        )
        return convert.coordinators_response(found)

    async def join_group(self, request: Any, context: _Ctx) -> Any:
        req = convert.join_request(request, convert.client_host(context.peer() or ""))
        return convert.join_response(await self._groups.join_group(req, caller=caller_of(context)))

    async def sync_group(self, request: Any, context: _Ctx) -> Any:
        return convert.sync_response(
            await self._groups.sync_group(convert.sync_request(request), caller=caller_of(context))
        )

    async def heartbeat(self, request: Any, context: _Ctx) -> Any:
        answer = await self._groups.heartbeat(
            convert.heartbeat_request(request), caller=caller_of(context)
        )
        return convert.heartbeat_response(answer)

    async def leave_group(self, request: Any, context: _Ctx) -> Any:
        answer = await self._groups.leave_group(
            convert.leave_request(request), caller=caller_of(context)
        )
        return convert.leave_response(answer)

    async def offset_commit(self, request: Any, context: _Ctx) -> Any:
        answer = await self._groups.commit_offsets(
            convert.commit_request(request), caller=caller_of(context)
        )
        return convert.commit_response(answer)

    async def offset_fetch(self, request: Any, context: _Ctx) -> Any:
        answer = await self._groups.fetch_offsets(
            request.group_id, convert.fetch_partitions(request), caller=caller_of(context)
        )
        return convert.fetch_response(answer)

    async def list_groups(self, request: Any, context: _Ctx) -> Any:
        answer = await self._groups.list_groups(
            convert.list_states(request), caller=caller_of(context)
        )
        return convert.list_response(answer)

    async def describe_groups(self, request: Any, context: _Ctx) -> Any:
        check_count("group ids", len(request.group_ids))
        described = await self._groups.describe_groups(
            list(request.group_ids),
            include_offsets=request.include_offsets,
            caller=caller_of(context),
        )
        return convert.describe_response(described)

    async def delete_groups(self, request: Any, context: _Ctx) -> Any:
        check_count("group ids", len(request.group_ids))
        answer = await self._groups.delete_groups(
            list(request.group_ids), caller=caller_of(context)
        )
        return convert.delete_response(answer)
