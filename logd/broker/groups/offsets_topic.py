"""``__consumer_offsets``: created by the broker the first time a group needs it (as Kafka's
``GroupCoordinator`` does on the first FindCoordinator), with ``offsets.topic.num.partitions``
partitions and ``offsets.topic.replication.factor`` replicas.

Compacted, as Kafka's is (``cleanup.policy=compact``): every record is keyed by group (and
topic-partition for offsets) and a deleted group or expired offset is a tombstone, so the
cleaner keeps one record per live key and a coordinator taking over replays in time
proportional to the groups and their partitions, not to the history of commits.  Time and
size retention stay off (-1) in case the policy is ever widened to ``compact,delete``.
A topic created before compaction existed keeps its stored configs: ``logd topic
alter-config __consumer_offsets -s cleanup.policy=compact`` turns it on.

Ownership: used on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from logd.broker.api import NewTopic, TopicResult
from logd.broker.groups.settings import GroupSettings
from logd.errors import CoordinatorNotAvailableError, LogdError, TopicAlreadyExistsError
from logd.groups.partition import OFFSETS_TOPIC
from logd.metadata.store import MetadataStore

__all__ = ["OffsetsTopic", "offsets_topic_configs"]

_log = logging.getLogger(__name__)

CreateTopics = Callable[[Sequence[NewTopic]], Coroutine[Any, Any, list[TopicResult]]]


def offsets_topic_configs(settings: GroupSettings) -> Mapping[str, str]:
    return {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "segment.bytes": str(settings.offsets_topic_segment_bytes),
    }


class OffsetsTopic:
    """Knows the topic's partition count and creates the topic once, however many callers
    ask at the same time. Owned by the broker's event loop."""

    def __init__(
        self, settings: GroupSettings, store: MetadataStore, create_topics: CreateTopics
    ) -> None:
        self._settings = settings
        self._store = store
        self._create_topics = create_topics
        self._creating: asyncio.Task[None] | None = None

    def partitions(self) -> int | None:
        """The topic's partition count (what groups hash over), None while it is missing."""
        record = self._store.topic(OFFSETS_TOPIC)
        return len(record.partitions) if record is not None else None

    async def ensure(self) -> int:
        """The partition count, creating the topic first when it is missing. Raises
        CoordinatorNotAvailableError (retriable) when it cannot be created now."""
        count = self.partitions()
        if count is not None:
            return count
        if self._creating is None or self._creating.done():
            self._creating = asyncio.get_running_loop().create_task(self._create())
        await asyncio.shield(self._creating)
        count = self.partitions()
        if count is None:
            raise CoordinatorNotAvailableError(f"{OFFSETS_TOPIC} does not exist yet")
        return count

    async def _create(self) -> None:
        settings = self._settings
        factor = settings.offsets_topic_replication_factor
        if factor < 1:
            factor = min(3, len(self._store.brokers()))
        topic = NewTopic(
            OFFSETS_TOPIC,
            settings.offsets_topic_num_partitions,
            factor,
            dict(offsets_topic_configs(settings)),
        )
        (result,) = await self._create_topics([topic])
        error = result.error
        if error is None:
            _log.info(
                "created %s: %d partitions, replication factor %d",
                OFFSETS_TOPIC,
                topic.partitions,
                factor,
            )
        elif not isinstance(error, TopicAlreadyExistsError):
            raise _unavailable(error)


def _unavailable(error: LogdError) -> CoordinatorNotAvailableError:
    return CoordinatorNotAvailableError(f"cannot create {OFFSETS_TOPIC}: {error}")
