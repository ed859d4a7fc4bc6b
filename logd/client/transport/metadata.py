"""The client's view of the cluster: brokers, topics, partitions and their leaders.

:class:`MetadataCache` is pure data with one writer (the event loop) -- updated from a
Metadata answer, or one partition at a time from a ``leader_hint`` in a
NOT_LEADER_OR_FOLLOWER answer so a client need not wait for a refresh. Readers on other
threads (the sync producer's ``produce()``) only read single dict entries, which is safe
under the GIL.

:class:`Metadata` fetches it: :meth:`Metadata.refresh` asks any broker that answers (known
brokers first, then the bootstrap list), coalescing concurrent refreshes into one call;
:meth:`Metadata.topic` returns a topic's metadata, fetching it when unknown or stale and
raising :class:`UnknownTopicOrPartitionError` for a topic the cluster does not have.

Owned by the client's event loop; not thread-safe (except the reads described above).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from logd.client.transport.connection import Connection, ConnectionPool
from logd.client.transport.rpc import error_from_proto
from logd.client.types import (
    BrokerInfo,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
)
from logd.clock import Clock
from logd.errors import (
    InvalidTopicError,
    LogdError,
    UnknownTopicOrPartitionError,
)
from logd.v1 import broker_pb2

__all__ = ["Metadata", "MetadataCache", "cluster_metadata_from_proto"]


def cluster_metadata_from_proto(resp: Any) -> ClusterMetadata:
    """A Metadata answer as the public :class:`ClusterMetadata`."""
    brokers = {
        b.node_id: BrokerInfo(b.node_id, b.host, b.port, b.alive, b.rack) for b in resp.brokers
    }
    topics: dict[str, TopicMetadata] = {}
    for t in resp.topics:
        parts = [
            PartitionMetadata(
                p.partition,
                p.leader_id,
                p.leader_epoch,
                list(p.replicas),
                list(p.isr),
                list(p.offline_replicas),
                error_from_proto(p.error),
            )
            for p in t.partitions
        ]
        parts.sort(key=lambda p: p.partition)
        topics[t.name] = TopicMetadata(t.name, parts, t.internal, error_from_proto(t.error))
    return ClusterMetadata(resp.cluster_id, resp.controller_id, brokers, topics, resp.node_id)


class MetadataCache:
    """Brokers and partition leaders. One writer (the event loop); see the module docstring."""

    def __init__(self) -> None:
        self.cluster_id = ""
        self.controller_id = -1
        self.brokers: dict[int, BrokerInfo] = {}
        self.topics: dict[str, TopicMetadata] = {}
        #: (topic, partition) -> (leader id, leader epoch), overriding ``topics`` after hints.
        self._leaders: dict[tuple[str, int], tuple[int, int]] = {}
        #: Addresses learned from hints for brokers not (yet) in ``brokers``.
        self._hint_addresses: dict[int, str] = {}
        self.updated_at = -1.0

    def update(self, md: ClusterMetadata, now: float, *, complete: bool) -> None:
        """Take a Metadata answer. ``complete``: it listed every topic, so drop the others."""
        self.cluster_id = md.cluster_id
        self.controller_id = md.controller_id
        if md.brokers:
            self.brokers = dict(md.brokers)
        if complete:
            self.topics = {}
        for name, tm in md.topics.items():
            if tm.error is None:
                self.topics[name] = tm
            else:
                self.topics.pop(name, None)
            for key in [k for k in self._leaders if k[0] == name]:
                del self._leaders[key]
        self.updated_at = now

    def num_partitions(self, topic: str) -> int | None:
        tm = self.topics.get(topic)
        return len(tm.partitions) if tm is not None else None

    def leader(self, topic: str, partition: int) -> tuple[int, int]:
        """(leader id, leader epoch) of a partition; leader -1 when unknown or leaderless."""
        hinted = self._leaders.get((topic, partition))
        if hinted is not None:
            return hinted
        tm = self.topics.get(topic)
        if tm is None or partition >= len(tm.partitions):
            return -1, -1
        pm = tm.partitions[partition]
        return pm.leader, pm.leader_epoch

    def address(self, node_id: int) -> str | None:
        info = self.brokers.get(node_id)
        if info is not None:
            return info.address
        return self._hint_addresses.get(node_id)

    def leader_address(self, topic: str, partition: int) -> str | None:
        leader, _ = self.leader(topic, partition)
        return None if leader < 0 else self.address(leader)

    def apply_hint(self, topic: str, partition: int, hint: Any) -> bool:
        """Take a ``LeaderHint``; True when it named a leader (newer than what we know)."""
        if hint is None or hint.leader_id < 0:
            self._leaders[(topic, partition)] = (-1, -1)
            return False
        _, epoch = self.leader(topic, partition)
        if hint.leader_epoch < epoch:
            return False
        self._leaders[(topic, partition)] = (hint.leader_id, hint.leader_epoch)
        if hint.address and hint.leader_id not in self.brokers:
            self._hint_addresses[hint.leader_id] = hint.address
        return True

    def forget_leader(self, topic: str, partition: int) -> None:
        self._leaders[(topic, partition)] = (-1, -1)

    def known_addresses(self) -> list[str]:
        return [b.address for b in self.brokers.values() if b.alive]


class Metadata:
    """Fetches metadata into a :class:`MetadataCache`. Owned by the client's event loop."""

    def __init__(self, pool: ConnectionPool, clock: Clock, max_age_ms: int) -> None:
        self.cache = MetadataCache()
        self._pool = pool
        self._clock = clock
        self._max_age_s = max_age_ms / 1000.0
        self._inflight: asyncio.Future[ClusterMetadata] | None = None
        self._wanted: set[str] = set()
        #: Topics this client uses: a refresh asks for them (not the whole cluster).
        self.interest: set[str] = set()

    @property
    def stale(self) -> bool:
        return self._clock.monotonic() - self.cache.updated_at >= self._max_age_s

    async def fetch(
        self, topics: Iterable[str] | None = None, *, include_internal: bool = False
    ) -> ClusterMetadata:
        """One Metadata call to any broker; ``topics`` None means every topic."""
        request = broker_pb2.MetadataRequest(
            topics=list(topics) if topics is not None else [], include_internal=include_internal
        )

        async def call(conn: Connection) -> Any:
            return await conn.unary(conn.broker.Metadata, request)

        resp = await self._pool.call_any(call, self.cache.known_addresses())
        md = cluster_metadata_from_proto(resp)
        self.cache.update(md, self._clock.monotonic(), complete=topics is None)
        return md

    async def refresh(self, topics: Iterable[str] = ()) -> ClusterMetadata:
        """Refresh the topics of interest (and ``topics``); concurrent callers share one call."""
        self._wanted.update(topics)
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh_once())
        inflight = self._inflight
        return await asyncio.shield(inflight)

    async def _refresh_once(self) -> ClusterMetadata:
        await asyncio.sleep(0)  # let concurrent callers add their topics first
        wanted = sorted(self._wanted | self.interest)
        self._wanted.clear()
        try:
            return await self.fetch(wanted if wanted else None)
        finally:
            self._inflight = None

    async def topic(self, name: str, *, refresh: bool = False) -> TopicMetadata:
        """The metadata of ``name``; :class:`UnknownTopicOrPartitionError` when it does not
        exist (and :class:`InvalidTopicError` for a name that cannot be a topic)."""
        self.interest.add(name)
        tm = self.cache.topics.get(name)
        if tm is None or refresh or self.stale:
            md = await self.refresh([name])
            tm = self.cache.topics.get(name)
            if tm is None:
                got = md.topics.get(name)
                self.interest.discard(name)
                err: LogdError | None = got.error if got is not None else None
                if isinstance(err, InvalidTopicError):
                    raise err
                raise UnknownTopicOrPartitionError(f"unknown topic {name!r}")
        return tm
