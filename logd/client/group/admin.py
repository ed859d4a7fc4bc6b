"""Group administration: list, describe (with committed offsets, log end offsets and lag),
delete, and set the offsets of a group nobody is a member of.

Each group is asked at its coordinator (:class:`~logd.client.group.link.CoordinatorLink`,
retried while the coordinator moves or loads); ListGroups asks every broker and merges, as
Kafka's admin client does, since each broker knows only the groups it coordinates.

Owned by the admin client's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from logd.client.config import ClientConfig
from logd.client.group.link import RETRY_ON, CoordinatorLink, group_stub
from logd.client.group.types import GroupDescription, GroupListing, GroupMember, GroupPartition
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.offsets import SPEC_LATEST, list_offsets
from logd.client.transport.rpc import error_from_proto
from logd.client.types import TopicPartition
from logd.clock import Clock
from logd.errors import (
    GroupIdNotFoundError,
    InvalidGroupIdError,
    InvalidRequestError,
    LogdError,
    NonEmptyGroupError,
    UnknownMemberIdError,
)
from logd.v1 import group_pb2
from partitioning import ProtocolDecodeError, decode_assignment

__all__ = ["GroupAdmin", "group_ids"]


def group_ids(ids: Iterable[str] | str) -> list[str]:
    out = [ids] if isinstance(ids, str) else list(ids)
    for group_id in out:
        if not isinstance(group_id, str) or not group_id:
            raise InvalidGroupIdError(f"group ids are non-empty strings, got {group_id!r}")
    return out


class GroupAdmin:
    """The group calls of ``AsyncAdmin``. Loop-owned."""

    def __init__(
        self, pool: ConnectionPool, metadata: Metadata, config: ClientConfig, clock: Clock
    ) -> None:
        self._pool = pool
        self._metadata = metadata
        self._config = config
        self._clock = clock

    def _link(self, group_id: str) -> CoordinatorLink:
        return CoordinatorLink(self._pool, group_id, self._config, self._clock)

    async def list_groups(self) -> list[GroupListing]:
        """Every group of the cluster, sorted by id."""
        md = await self._metadata.fetch([])
        found: dict[str, GroupListing] = {}
        for node_id, broker in sorted(md.brokers.items()):
            for g in await self._list_at(broker.address):
                found[g.group_id] = GroupListing(g.group_id, g.state, g.protocol_type, node_id)
        return sorted(found.values(), key=lambda g: g.group_id)

    async def _list_at(self, address: str) -> list[Any]:
        deadline = self._clock.monotonic() + self._config.request_timeout_ms / 1000.0
        while True:
            conn = self._pool.get(address)
            resp: Any = await conn.unary(group_stub(conn).ListGroups, group_pb2.ListGroupsRequest())
            error = error_from_proto(resp.error)
            if error is None:
                return list(resp.groups)
            if not isinstance(error, RETRY_ON) or self._clock.monotonic() >= deadline:
                raise error
            await asyncio.sleep(self._config.retry_backoff_ms / 1000.0)

    async def describe_groups(self, ids: Iterable[str] | str) -> list[GroupDescription]:
        """State, members and, per partition, committed offset, log end offset, lag and
        owner. A group that does not exist is described as Dead with nothing in it."""
        return [await self._describe(group_id) for group_id in group_ids(ids)]

    async def _describe(self, group_id: str) -> GroupDescription:
        link = self._link(group_id)
        request = group_pb2.DescribeGroupsRequest(group_ids=[group_id], include_offsets=True)
        resp: Any = await link.call_retrying(
            "DescribeGroups", request, lambda r: error_from_proto(r.groups[0].error)
        )
        (g,) = resp.groups
        error = error_from_proto(g.error)
        if error is not None:
            raise error
        members = [
            GroupMember(
                m.member_id, m.group_instance_id or None, m.client_id, m.client_host,
                _assignment(bytes(m.assignment)),
            )
            for m in g.members
        ]  # fmt: skip
        ends = await self._log_ends({(o.topic, o.partition) for o in g.offsets})
        partitions = [_partition(o, ends.get((o.topic, o.partition), -1)) for o in g.offsets]
        return GroupDescription(
            group_id=group_id,
            state=g.state,
            protocol_type=g.protocol_type,
            protocol=g.protocol_name,
            generation_id=g.generation_id,
            leader_id=g.leader_id,
            coordinator_id=link.node_id,
            members=members,
            partitions=partitions,
        )

    async def _log_ends(self, keys: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """High watermarks of the partitions that still exist (a deleted topic's committed
        offsets stay until the group is deleted or they expire)."""
        if not keys:
            return {}
        await self._metadata.refresh({t for t, _ in keys})
        known = self._metadata.cache.topics
        asks = [
            (t, p, SPEC_LATEST, 0)
            for t, p in sorted(keys)
            if t in known and p < len(known[t].partitions)
        ]
        if not asks:
            return {}
        found = await list_offsets(
            self._pool,
            self._metadata,
            self._clock,
            asks,
            timeout_ms=self._config.request_timeout_ms,
            backoff_ms=self._config.retry_backoff_ms,
        )
        return {key: offset for key, (offset, _) in found.items()}

    async def delete_groups(self, ids: Iterable[str] | str) -> None:
        """Delete groups without members, with their committed offsets; raises the first
        error (NonEmptyGroupError, GroupIdNotFoundError)."""
        for group_id in group_ids(ids):
            request = group_pb2.DeleteGroupsRequest(group_ids=[group_id])
            resp: Any = await self._link(group_id).call_retrying(
                "DeleteGroups", request, lambda r: error_from_proto(r.results[0].error)
            )
            error = error_from_proto(resp.results[0].error)
            if isinstance(error, NonEmptyGroupError):
                raise NonEmptyGroupError(f"group {group_id!r} has members; stop them first")
            if isinstance(error, GroupIdNotFoundError):
                raise GroupIdNotFoundError(f"group {group_id!r} does not exist")
            if error is not None:
                raise error

    async def alter_group_offsets(
        self, group_id: str, offsets: Iterable[TopicPartition] | Mapping[TopicPartition, int]
    ) -> None:
        """Set the committed offsets of a group that has no live member (a commit with
        generation -1, Kafka's AlterConsumerGroupOffsets); NonEmptyGroupError otherwise."""
        (group_id,) = group_ids([group_id])
        if isinstance(offsets, Mapping):
            offsets = [TopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()]
        parts = []
        for tp in offsets:
            if not isinstance(tp, TopicPartition) or tp.offset < 0:
                raise InvalidRequestError(f"expected a TopicPartition with an offset >= 0: {tp!r}")
            parts.append(
                group_pb2.OffsetCommitPartition(
                    topic=tp.topic, partition=tp.partition, offset=tp.offset, leader_epoch=-1
                )
            )
        request = group_pb2.OffsetCommitRequest(
            group_id=group_id, generation_id=-1, partitions=parts
        )
        resp: Any = await self._link(group_id).call_retrying("OffsetCommit", request, _first)
        error = _first(resp)
        if isinstance(error, UnknownMemberIdError):
            raise NonEmptyGroupError(
                f"group {group_id!r} has live members: its offsets can only be changed while "
                "it is empty"
            )
        if error is not None:
            raise error


def _first(resp: Any) -> LogdError | None:
    for p in resp.partitions:
        error = error_from_proto(p.error)
        if error is not None:
            return error
    return None


def _assignment(data: bytes) -> list[TopicPartition]:
    if not data:
        return []
    try:
        return [TopicPartition(t, p) for t, p in decode_assignment(data).partitions]
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
        group_instance_id=o.group_instance_id or None,
    )
