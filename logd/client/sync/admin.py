"""The sync admin client: :class:`logd.client.aio.AsyncAdmin` on a background event loop
(topics, configs, the cluster, consumer groups).

Thread-safety: every method may be called from any thread (each call is one coroutine on
the client's loop); ``close`` once.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from logd.client.aio.admin import AsyncAdmin
from logd.client.group.types import GroupDescription, GroupListing
from logd.client.sync.loop_thread import shared_loop
from logd.client.types import (
    BrokerDecommission,
    ClusterConfig,
    ClusterInfo,
    ClusterMetadata,
    ControllerQuorum,
    NewTopic,
    PartitionLeader,
    PartitionMove,
    TopicDescription,
    TopicListing,
    TopicPartition,
)
from logd.clock import Clock
from logd.errors import InvalidRequestError

__all__ = ["Admin"]

T = TypeVar("T")


class Admin:
    """Topic and cluster administration (see :class:`AsyncAdmin` for each call)."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self._admin = AsyncAdmin(config, clock=clock, **options)
        self.config = self._admin.config
        self._thread = shared_loop()
        self._closed = False
        self._thread.run(self._admin.start())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise InvalidRequestError("the admin client is closed")
        return self._thread.run(coro)

    def create_topics(self, topics: Iterable[NewTopic], validate_only: bool = False) -> None:
        self._run(self._admin.create_topics(list(topics), validate_only))

    def delete_topics(self, names: Iterable[str] | str) -> None:
        self._run(self._admin.delete_topics(names))

    def list_topics(self, include_internal: bool = False) -> list[TopicListing]:
        return self._run(self._admin.list_topics(include_internal))

    def describe_topics(self, names: Iterable[str] | str) -> list[TopicDescription]:
        return self._run(self._admin.describe_topics(names))

    def alter_configs(
        self,
        topic: str,
        set: Mapping[str, str] | None = None,
        delete: Iterable[str] | None = None,
        validate_only: bool = False,
    ) -> None:
        self._run(self._admin.alter_configs(topic, set, delete, validate_only))

    def create_partitions(self, topic: str, total_count: int, validate_only: bool = False) -> None:
        self._run(self._admin.create_partitions(topic, total_count, validate_only))

    def transfer_leadership(
        self, topic: str, partition: int, to: int | None = None, timeout_ms: int | None = None
    ) -> PartitionLeader:
        return self._run(self._admin.transfer_leadership(topic, partition, to, timeout_ms))

    def move_partition(
        self, topic: str, partition: int, to: Iterable[int], *, throttle: int = 0
    ) -> None:
        self._run(self._admin.move_partition(topic, partition, to, throttle=throttle))

    def cancel_partition_move(self, topic: str, partition: int) -> None:
        self._run(self._admin.cancel_partition_move(topic, partition))

    def list_partition_moves(self, topics: Iterable[str] = ()) -> list[PartitionMove]:
        return self._run(self._admin.list_partition_moves(topics))

    def balance_partitions(self, *, throttle: int = 0, max_moves: int = 0) -> list[PartitionMove]:
        return self._run(self._admin.balance_partitions(throttle=throttle, max_moves=max_moves))

    def add_controller_voter(self, node_id: int) -> None:
        self._run(self._admin.add_controller_voter(node_id))

    def remove_controller_voter(self, node_id: int) -> None:
        self._run(self._admin.remove_controller_voter(node_id))

    def describe_controller_quorum(self) -> ControllerQuorum:
        return self._run(self._admin.describe_controller_quorum())

    def decommission_broker(self, node_id: int) -> None:
        self._run(self._admin.decommission_broker(node_id))

    def recommission_broker(self, node_id: int) -> None:
        self._run(self._admin.recommission_broker(node_id))

    def unregister_broker(self, node_id: int) -> None:
        self._run(self._admin.unregister_broker(node_id))

    def list_decommissions(self) -> list[BrokerDecommission]:
        return self._run(self._admin.list_decommissions())

    def alter_cluster_configs(
        self,
        set_configs: Mapping[str, str] | None = None,
        delete: Iterable[str] = (),
        *,
        validate_only: bool = False,
    ) -> None:
        self._run(
            self._admin.alter_cluster_configs(set_configs, delete, validate_only=validate_only)
        )

    def describe_cluster_configs(self) -> list[ClusterConfig]:
        return self._run(self._admin.describe_cluster_configs())

    def describe_cluster(self) -> ClusterInfo:
        return self._run(self._admin.describe_cluster())

    def metadata(
        self, topics: Iterable[str] | None = None, include_internal: bool = False
    ) -> ClusterMetadata:
        return self._run(self._admin.metadata(topics, include_internal))

    def list_groups(self) -> list[GroupListing]:
        return self._run(self._admin.list_groups())

    def describe_groups(self, group_ids: Iterable[str] | str) -> list[GroupDescription]:
        return self._run(self._admin.describe_groups(group_ids))

    def delete_groups(self, group_ids: Iterable[str] | str) -> None:
        self._run(self._admin.delete_groups(group_ids))

    def alter_group_offsets(
        self, group_id: str, offsets: Iterable[TopicPartition] | Mapping[TopicPartition, int]
    ) -> None:
        self._run(self._admin.alter_group_offsets(group_id, offsets))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._thread.run(self._admin.close())

    def __enter__(self) -> Admin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
