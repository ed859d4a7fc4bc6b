"""The consumer-group half of the front-end seam (:class:`~logd.broker.seam.BrokerSeam`
inherits it): FindCoordinator … OffsetDelete, each admitted by the gate first, in the types
of :mod:`logd.groups.messages`, served by the broker's
:class:`~logd.broker.groups.service.GroupService` -- the same coordinator whichever front
end a member speaks through.

Authorization is Kafka's: the group's resource decides the whole request, and where a
request names topics or several groups, each of them is answered on its own (OffsetCommit
and OffsetDelete: TOPIC_AUTHORIZATION_FAILED per partition; OffsetFetch: left out of "all"
or refused per partition; DescribeGroups, DeleteGroups, FindCoordinator:
GROUP_AUTHORIZATION_FAILED per group).

Ownership: the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from logd.broker.groups.service import CoordinatorLocation, GroupService
from logd.broker.seam_base import ANONYMOUS, Caller, SeamBase
from logd.errors import ErrorCode
from logd.groups.consumer_group import (
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.consumer_ops import DescribedConsumerGroup
from logd.groups.messages import (
    NO_OFFSET,
    DeleteGroupResult,
    DeleteGroupsResponse,
    DescribedGroup,
    GroupOffsets,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    ListGroupsResponse,
    OffsetCommitPartitionResult,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeletePartitionResult,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchPartition,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
    TopicPartition,
)
from logd.groups.state import GroupState

__all__ = ["GroupCalls"]


class GroupCalls(SeamBase):
    """The seam's group calls; see the module docstring."""

    _groups: GroupService

    async def find_coordinators(
        self, group_ids: Sequence[str], *, caller: Caller = ANONYMOUS
    ) -> list[CoordinatorLocation]:
        refused = self.refusals(caller, "find_coordinators", group_ids)
        allowed = [g for g in group_ids if g not in refused]
        found = {c.group_id: c for c in await self._groups.find_coordinators(allowed)}
        return [CoordinatorLocation(g, refused[g]) if g in refused else found[g] for g in group_ids]

    async def join_group(
        self, req: JoinGroupRequest, *, caller: Caller = ANONYMOUS
    ) -> JoinGroupResponse:
        self.admit(caller, "join_group", (req.group_id,))
        return await self._groups.join_group(req)

    async def sync_group(
        self, req: SyncGroupRequest, *, caller: Caller = ANONYMOUS
    ) -> SyncGroupResponse:
        self.admit(caller, "sync_group", (req.group_id,))
        return await self._groups.sync_group(req)

    async def heartbeat(
        self, req: HeartbeatRequest, *, caller: Caller = ANONYMOUS
    ) -> HeartbeatResponse:
        self.admit(caller, "heartbeat", (req.group_id,))
        return await self._groups.heartbeat(req)

    async def consumer_group_heartbeat(
        self, req: ConsumerHeartbeat, *, caller: Caller = ANONYMOUS
    ) -> ConsumerHeartbeatAnswer:
        """KIP-848's one membership call: READ on the group, as Kafka."""
        self.admit(caller, "consumer_group_heartbeat", (req.group_id,))
        return await self._groups.consumer_group_heartbeat(req)

    async def describe_consumer_groups(
        self, group_ids: Sequence[str], *, caller: Caller = ANONYMOUS
    ) -> list[DescribedConsumerGroup]:
        """ConsumerGroupDescribe: GROUP_AUTHORIZATION_FAILED per group the caller may not
        describe (DESCRIBE on the group, as DescribeGroups)."""
        refused = self.refusals(caller, "describe_groups", group_ids)
        described = iter(
            await self._groups.describe_consumer_groups([g for g in group_ids if g not in refused])
        )
        return [
            DescribedConsumerGroup(g, refused[g].code) if g in refused else next(described)
            for g in group_ids
        ]

    async def leave_group(
        self, req: LeaveGroupRequest, *, caller: Caller = ANONYMOUS
    ) -> LeaveGroupResponse:
        self.admit(caller, "leave_group", (req.group_id,))
        return await self._groups.leave_group(req)

    async def commit_offsets(
        self, req: OffsetCommitRequest, *, caller: Caller = ANONYMOUS
    ) -> OffsetCommitResponse:
        """A topic the caller may not read answers TOPIC_AUTHORIZATION_FAILED for each of its
        partitions; the others are committed (Kafka's OffsetCommit)."""
        self.admit(caller, "commit_offsets", (req.group_id,))
        refused = self.item_refusals(
            caller, "commit_offsets_topics", {p.topic for p in req.partitions}
        )
        if not refused:
            return await self._groups.commit_offsets(req)
        kept = tuple(p for p in req.partitions if p.topic not in refused)
        answer = OffsetCommitResponse(())
        if kept:
            answer = await self._groups.commit_offsets(dataclasses.replace(req, partitions=kept))
        results = iter(answer.partitions)  # the core answers every partition, in order
        merged = tuple(
            OffsetCommitPartitionResult(p.topic, p.partition, refused[p.topic].code)
            if p.topic in refused
            else next(results)
            for p in req.partitions
        )
        return dataclasses.replace(answer, partitions=merged)

    async def fetch_offsets(
        self,
        group_id: str,
        partitions: Sequence[TopicPartition] | None = None,
        *,
        caller: Caller = ANONYMOUS,
        member_id: str | None = None,
        member_epoch: int = -1,
    ) -> OffsetFetchResponse:
        """Offsets of topics the caller may not describe are left out of "all of the group's"
        (``partitions`` None) and answer TOPIC_AUTHORIZATION_FAILED when asked by name.
        ``member_id``/``member_epoch`` (OffsetFetch v9): a KIP-848 member's fetch, fenced
        by its member epoch."""
        self.admit(caller, "fetch_offsets", (group_id,))
        answer = await self._groups.fetch_offsets(group_id, partitions, member_id, member_epoch)
        topics = {p.topic for p in answer.partitions}
        if partitions is None:
            visible = set(self.visible(caller, "fetch_offsets_topics", topics))
            kept = tuple(p for p in answer.partitions if p.topic in visible)
            return dataclasses.replace(answer, partitions=kept)
        refused = self.item_refusals(caller, "fetch_offsets_topics", topics)
        if not refused:
            return answer
        marked = tuple(
            OffsetFetchPartition(p.topic, p.partition, NO_OFFSET, error=refused[p.topic].code)
            if p.topic in refused
            else p
            for p in answer.partitions
        )
        return dataclasses.replace(answer, partitions=marked)

    async def delete_offsets(
        self, req: OffsetDeleteRequest, *, caller: Caller = ANONYMOUS
    ) -> OffsetDeleteResponse:
        """Delete some committed offsets of a group (Kafka's OffsetDelete: DELETE on the group,
        READ on each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions)."""
        self.admit(caller, "delete_offsets", (req.group_id,))
        refused = self.item_refusals(
            caller, "delete_offsets_topics", {tp.topic for tp in req.partitions}
        )
        kept = tuple(tp for tp in req.partitions if tp.topic not in refused)
        answer = await self._groups.delete_offsets(dataclasses.replace(req, partitions=kept))
        if not refused or answer.error is not ErrorCode.NONE:
            return answer
        results = {(r.topic, r.partition): r for r in answer.partitions}
        merged = tuple(
            results.get(
                (tp.topic, tp.partition),
                OffsetDeletePartitionResult(tp.topic, tp.partition, refused[tp.topic].code),
            )
            for tp in dict.fromkeys(req.partitions)
        )
        return dataclasses.replace(answer, partitions=merged)

    async def list_groups(
        self,
        states: Collection[GroupState | ConsumerGroupState] = (),
        *,
        caller: Caller = ANONYMOUS,
    ) -> ListGroupsResponse:
        self.admit(caller, "list_groups")
        answer = await self._groups.list_groups(states)
        visible = set(self.visible(caller, "list_groups", [g.group_id for g in answer.groups]))
        return dataclasses.replace(
            answer, groups=tuple(g for g in answer.groups if g.group_id in visible)
        )

    async def describe_groups(
        self,
        group_ids: Sequence[str],
        *,
        include_offsets: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> list[tuple[DescribedGroup, GroupOffsets | None]]:
        """A group the caller may not describe is answered GROUP_AUTHORIZATION_FAILED (and
        Dead), the others as they are (Kafka's DescribeGroups: per group)."""
        refused = self.refusals(caller, "describe_groups", group_ids)
        described = iter(
            await self._groups.describe_groups(
                [g for g in group_ids if g not in refused], include_offsets=include_offsets
            )
        )  # one answer per group asked, in order
        return [
            (DescribedGroup(g, refused[g].code, GroupState.DEAD), None)
            if g in refused
            else next(described)
            for g in group_ids
        ]

    async def delete_groups(
        self, group_ids: Sequence[str], *, caller: Caller = ANONYMOUS
    ) -> DeleteGroupsResponse:
        """A group the caller may not delete is answered GROUP_AUTHORIZATION_FAILED, the
        others are deleted (Kafka's DeleteGroups: per group)."""
        refused = self.refusals(caller, "delete_groups", group_ids)
        answer = await self._groups.delete_groups([g for g in group_ids if g not in refused])
        results = {r.group_id: r for r in answer.results}
        return DeleteGroupsResponse(
            tuple(
                DeleteGroupResult(g, refused[g].code) if g in refused else results[g]
                for g in dict.fromkeys(group_ids)
            )
        )
