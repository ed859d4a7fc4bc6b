"""The sync admin client: :class:`logd.client.aio.AsyncAdmin` on a background event loop.

Thread-safety: every method may be called from any thread (each call is one coroutine on
the client's loop); ``close`` once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from logd.client.aio.admin import AsyncAdmin
from logd.client.loop_thread import LoopThread
from logd.client.types import (
    ClusterInfo,
    ClusterMetadata,
    NewTopic,
    TopicDescription,
    TopicListing,
)
from logd.clock import Clock

__all__ = ["Admin"]


class Admin:
    """Topic and cluster administration (see :class:`AsyncAdmin` for each call)."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self._admin = AsyncAdmin(config, clock=clock, **options)
        self.config = self._admin.config
        self._thread = LoopThread("logd-admin")
        try:
            self._thread.run(self._admin.start())
        except BaseException:
            self._thread.stop()
            raise
        self._closed = False

    def create_topics(self, topics: Iterable[NewTopic], validate_only: bool = False) -> None:
        self._thread.run(self._admin.create_topics(list(topics), validate_only))

    def delete_topics(self, names: Iterable[str] | str) -> None:
        self._thread.run(self._admin.delete_topics(names))

    def list_topics(self, include_internal: bool = False) -> list[TopicListing]:
        return self._thread.run(self._admin.list_topics(include_internal))

    def describe_topics(self, names: Iterable[str] | str) -> list[TopicDescription]:
        return self._thread.run(self._admin.describe_topics(names))

    def alter_configs(
        self,
        topic: str,
        set: Mapping[str, str] | None = None,
        delete: Iterable[str] | None = None,
        validate_only: bool = False,
    ) -> None:
        self._thread.run(self._admin.alter_configs(topic, set, delete, validate_only))

    def create_partitions(self, topic: str, total_count: int, validate_only: bool = False) -> None:
        self._thread.run(self._admin.create_partitions(topic, total_count, validate_only))

    def describe_cluster(self) -> ClusterInfo:
        return self._thread.run(self._admin.describe_cluster())

    def metadata(
        self, topics: Iterable[str] | None = None, include_internal: bool = False
    ) -> ClusterMetadata:
        return self._thread.run(self._admin.metadata(topics, include_internal))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._thread.run(self._admin.close())
        finally:
            self._thread.stop()

    def __enter__(self) -> Admin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
