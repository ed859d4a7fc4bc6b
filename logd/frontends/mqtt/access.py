"""The log as the MQTT front end uses it: the broker seam (through its router, which
forwards what another broker leads), a cache of topic metadata, and topics created on first
use.

Everything goes through :class:`~logd.broker.seam.BrokerSeam` with the connection's
:class:`~logd.broker.seam.Caller`, so the seam's one gate (authentication, ACLs, quotas)
sees MQTT like every other door. The cache: a topic's partitions and their leaders,
looked up once and again when an answer says a leader moved or a topic is unknown (and
every ``refresh_s`` for what subscribers read), so that choosing a partition for a
PUBLISH costs no await.

Ownership: one per front end, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from logd.broker.api import (
    Acks,
    FetchPartitionRequest,
    FetchPartitionResult,
    ListOffsetsQuery,
    ListOffsetsResult,
    NewTopic,
    OffsetSpec,
    ProduceResult,
)
from logd.broker.routing import Router
from logd.broker.seam import BROKER, Caller
from logd.errors import (
    ErrorCode,
    InvalidConfigError,
    LogdError,
    TopicAlreadyExistsError,
    error_for_code,
)
from logd.groups.messages import (
    OffsetCommitPartition,
    OffsetCommitRequest,
    OffsetFetchResponse,
    TopicPartition,
)

__all__ = ["LogAccess", "TopicInfo"]

_LEADERS_WAIT_S = 10.0
# A coordinator just elected loads its groups first: wait for it this long, at most.
_COORDINATOR_RETRIES_S = (0.05, 0.1, 0.2, 0.5, 1.0, 1.0, 2.0, 2.0)

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    leaders: tuple[int, ...]  # per partition; -1 none
    looked_up: float

    @property
    def partitions(self) -> int:
        return len(self.leaders)


class LogAccess:
    """The seam plus a topic cache (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        *,
        auto_create: bool,
        refresh_s: float = 5.0,
        clock: object = time.monotonic,
    ) -> None:
        self.router = router
        self.seam = router.seam
        self._auto_create = auto_create
        self._refresh_s = refresh_s
        self._clock = clock
        self._topics: dict[str, TopicInfo] = {}
        self._lookups: dict[tuple[str, bool, Caller], asyncio.Future[TopicInfo | None]] = {}
        self._internal: dict[str, tuple[NewTopic, dict[str, str]]] = {}
        #: How many topics this front end made: subscribers look again when it changes.
        self.topics_made = 0
        self._made: list[Callable[[], None]] = []

    @property
    def node_id(self) -> int:
        return self.seam.node_id

    @property
    def draining(self) -> bool:
        """The broker is shutting down: fetches answer at once, so readers must stop."""
        return self.seam.draining

    # -- topics -----------------------------------------------------------------------------

    def cached(self, topic: str) -> TopicInfo | None:
        return self._topics.get(topic)

    def forget(self, topic: str) -> None:
        self._topics.pop(topic, None)

    async def topic(
        self, topic: str, *, create: bool = False, caller: Caller = BROKER
    ) -> TopicInfo | None:
        """The topic's partitions (looked up, and created when ``create`` and the listener
        creates topics), None when it does not exist. Concurrent lookups of one caller
        share one call.

        A topic a device's PUBLISH names is created on the device's behalf, as Kafka's
        Metadata auto-creation is: the seam's ``create_topics`` admits ``caller`` (ACL
        CREATE on the topic or the cluster) or raises TopicAuthorizationFailed — the one
        place where every door's creations are authorized. The front end's own topics
        (``define_internal``) are made as the broker."""
        info = self._topics.get(topic)
        if info is not None:
            return info
        key = (topic, create, caller)
        pending = self._lookups.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(topic, create, caller))
            self._lookups[key] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(key, None))
        return await asyncio.shield(pending)

    async def _lookup(self, topic: str, create: bool, caller: Caller) -> TopicInfo | None:
        info = await self._describe(topic)
        internal = self._internal.get(topic)
        if info is None and create and internal is not None:
            await self._create_internal(*internal)
            info = await self._describe(topic)
        elif info is None and create and self._auto_create:
            await self._create(NewTopic(topic), caller)
            info = await self._describe(topic)
        return await self._with_leaders(info)

    async def _with_leaders(self, info: TopicInfo | None) -> TopicInfo | None:
        """A topic just made has no leaders for a moment: wait for them (a while at most),
        so that its first publishes are not refused."""
        deadline = self._now() + _LEADERS_WAIT_S
        while info is not None and -1 in info.leaders and self._now() < deadline:
            await asyncio.sleep(0.05)
            info = await self._describe(info.name) or info
        return info

    async def _describe(self, topic: str) -> TopicInfo | None:
        meta = await self.seam.metadata([topic], caller=BROKER)
        found = meta.topics[0] if meta.topics else None
        if found is None or found.error is not None or not found.partitions:
            return None
        leaders = [-1] * len(found.partitions)
        for p in found.partitions:
            leaders[p.partition] = p.leader_id
        info = TopicInfo(topic, tuple(leaders), self._now())
        self._topics[topic] = info
        return info

    async def _create(self, new: NewTopic, caller: Caller = BROKER) -> None:
        (result,) = await self.seam.create_topics([new], caller=caller)
        if result.error is not None and not isinstance(result.error, TopicAlreadyExistsError):
            raise result.error
        _log.info("mqtt: created topic %s", new.name)
        self.topics_made += 1
        for callback in self._made:
            callback()

    def on_topic_made(self, callback: Callable[[], None]) -> None:
        self._made.append(callback)

    def define_internal(
        self,
        topic: str,
        partitions: int,
        replication_factor: int,
        configs: dict[str, str],
        fallback: dict[str, str],
    ) -> None:
        """How the front end's internal ``topic`` is created on first use (even when the
        listener creates no other topic); ``fallback``: its configs on a broker that
        refuses ``configs`` (one without compaction)."""
        self._internal[topic] = (NewTopic(topic, partitions, replication_factor, configs), fallback)

    async def _create_internal(self, new: NewTopic, fallback: dict[str, str]) -> None:
        try:
            await self._create(new)
        except InvalidConfigError as exc:
            _log.info("mqtt: %s made without %s (%s)", new.name, dict(new.configs), exc)
            await self._create(dataclasses.replace(new, configs=fallback))

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def may(self, caller: Caller, action: str, topic: str) -> LogdError | None:
        """Why ``caller`` may not ``action`` (``produce``, ``fetch``) ``topic``: the seam's
        gate asked before the listener acts on the caller's behalf as the broker (a retained
        message kept, a subscription's topics); None when it may."""
        try:
            self.seam.admit(caller, action, (topic,))
        except LogdError as exc:
            return exc
        return None

    def readable(self, caller: Caller, topics: Iterable[str]) -> list[str]:
        """The ``topics`` ``caller`` may read (a subscription delivers only those)."""
        return self.seam.visible(caller, "fetch", list(topics))

    async def list_topics(self) -> list[str]:
        return [t.name for t in await self.seam.list_topics(caller=BROKER)]

    # -- produce, fetch, offsets ------------------------------------------------------------

    def produce(
        self, topic: str, partition: int, records: bytes, caller: Caller = BROKER
    ) -> ProduceResult | asyncio.Future[ProduceResult]:
        """Append one batch now (acks=all); the answer or a future of it."""
        return self.router.produce(topic, partition, Acks.ALL, records, caller=caller)

    async def fetch(
        self,
        requests: Sequence[FetchPartitionRequest],
        *,
        max_wait_ms: int,
        max_bytes: int,
        caller: Caller = BROKER,
    ) -> list[FetchPartitionResult]:
        return await self.router.fetch(
            requests, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=max_bytes, caller=caller
        )

    async def end_offsets(
        self, partitions: Sequence[TopicPartition], caller: Caller = BROKER
    ) -> dict[TopicPartition, int]:
        """Each partition's log end (where a new subscription starts); errors left out."""
        queries = [ListOffsetsQuery(t, p, OffsetSpec.LATEST) for t, p in partitions]
        answers: list[ListOffsetsResult] = await self.router.list_offsets(queries, caller=caller)
        return {TopicPartition(a.topic, a.partition): a.offset for a in answers if a.error is None}

    async def commit(
        self, group_id: str, offsets: dict[TopicPartition, int], caller: Caller = BROKER
    ) -> LogdError | None:
        """Commit positions as a standalone consumer (generation -1): the first error."""
        parts = tuple(OffsetCommitPartition(t, p, o) for (t, p), o in offsets.items())
        request = OffsetCommitRequest(group_id, parts)
        for delay in _COORDINATOR_RETRIES_S:
            error = await self._find_coordinator(group_id, caller)
            if error is None:
                answer = await self.router.commit_offsets(request, caller=caller)
                codes = [p.error for p in answer.partitions if p.error != ErrorCode.NONE]
                error = error_for_code(codes[0], answer.error_message) if codes else None
            if error is None or not error.retriable:
                return error
            await asyncio.sleep(delay)
        return error

    async def committed(self, group_id: str, caller: Caller = BROKER) -> OffsetFetchResponse:
        """The group's committed positions (waiting out a coordinator that is loading)."""
        answer = OffsetFetchResponse(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        for delay in _COORDINATOR_RETRIES_S:
            error = await self._find_coordinator(group_id, caller)
            if error is None:
                answer = await self.router.fetch_offsets(group_id, caller=caller)
                if answer.error == ErrorCode.NONE:
                    return answer
                error = error_for_code(answer.error, answer.error_message)
            if not error.retriable:
                break
            await asyncio.sleep(delay)
        return answer

    async def _find_coordinator(self, group_id: str, caller: Caller) -> LogdError | None:
        """None once ``group_id`` has a coordinator (any broker: the router forwards);
        ``__consumer_offsets`` is made on first use, as Kafka does."""
        (where,) = await self.seam.find_coordinators([group_id], caller=caller)
        return where.error
