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
from logd.client.group import codec
from logd.client.group.link import CoordinatorLink, group_stub
from logd.client.group.steps import RETRY_ON
from logd.client.group.types import GroupDescription, GroupListing
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.offsets import SPEC_LATEST, list_offsets
from logd.client.types import PartitionKey, TopicPartition
from logd.clock import Clock
from logd.errors import (
    GroupIdNotFoundError,
    InvalidGroupIdError,
    InvalidRequestError,
    NonEmptyGroupError,
    UnknownMemberIdError,
)
from logd.groups.messages import OffsetCommitPartition, OffsetCommitRequest

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
            for g in codec.listings(await self._list_at(broker.address), node_id):
                found[g.group_id] = g
        return sorted(found.values(), key=lambda g: g.group_id)

    async def _list_at(self, address: str) -> Any:
        deadline = self._clock.monotonic() + self._config.request_timeout_ms / 1000.0
        while True:
            conn = self._pool.get(address)
            resp: Any = await conn.unary(group_stub(conn).ListGroups, codec.list_request())
            error = codec.list_error(resp)
            if error is None:
                return resp
            if not isinstance(error, RETRY_ON) or self._clock.monotonic() >= deadline:
                raise error
            await asyncio.sleep(self._config.retry_backoff_ms / 1000.0)

    async def describe_groups(self, ids: Iterable[str] | str) -> list[GroupDescription]:
        """State, members and, per partition, committed offset, log end offset, lag and
        owner. A group that does not exist is described as Dead with nothing in it."""
        return [await self._describe(group_id) for group_id in group_ids(ids)]

    async def _describe(self, group_id: str) -> GroupDescription:
        link = self._link(group_id)
        resp: Any = await link.call_retrying(
            "DescribeGroups", codec.describe_request(group_id), codec.describe_error
        )
        error = codec.describe_error(resp)
        if error is not None:
            raise error
        ends = await self._log_ends(codec.described_partitions(resp))
        return codec.description(resp, link.node_id, ends)

    async def _log_ends(self, keys: set[PartitionKey]) -> dict[PartitionKey, int]:
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
            resp: Any = await self._link(group_id).call_retrying(
                "DeleteGroups", codec.delete_request(group_id), codec.delete_error
            )
            error = codec.delete_error(resp)
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
            parts.append(OffsetCommitPartition(tp.topic, tp.partition, tp.offset))
        request = codec.commit_request(OffsetCommitRequest(group_id, tuple(parts)))
        link = self._link(group_id)
        resp: Any = await link.call_retrying("OffsetCommit", request, codec.commit_error)
        error = codec.commit_error(resp)
        if isinstance(error, UnknownMemberIdError):
            raise NonEmptyGroupError(
                f"group {group_id!r} has live members: its offsets can only be changed while "
                "it is empty"
            )
        if error is not None:
            raise error
