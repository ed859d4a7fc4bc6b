"""One broker's resources, opened and closed in the right order.

Open: the flusher thread; the data directory (locked, recovered) and the metadata store; the
hosted partitions; periodic retention; the core; the group coordinators (which follow the
leadership of ``__consumer_offsets``). Close: the group coordinators unload (waiting group
requests answer NOT_COORDINATOR); retention stops; partitions stop (pending acks=all answers
fail); every log is flushed and closed, and the clean-shutdown
marker written (``LogManager.close``); the flusher thread ends.

Ownership: opened and closed on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from logd.broker.api import BrokerMeta
from logd.broker.config import BrokerConfig, HostPort
from logd.broker.core import BrokerCore
from logd.broker.groups.service import GroupService
from logd.broker.metadata import leader_hint_for
from logd.broker.metadata_file import FileMetadataStore
from logd.broker.replicas import ReplicaManager
from logd.broker.retention import RetentionTask
from logd.broker.topic_config import TopicConfig
from logd.clock import Clock, SystemClock
from logd.errors import InvalidConfigError
from logd.storage import Flusher, FlushPolicy, LogManager

__all__ = ["BrokerNode"]

_log = logging.getLogger(__name__)


class BrokerNode:
    """The open broker: ``node.core`` serves requests until :meth:`close`."""

    def __init__(
        self,
        core: BrokerCore,
        logs: LogManager,
        flusher: Flusher,
        retention: RetentionTask,
        groups: GroupService,
    ) -> None:
        self.core = core
        self.groups = groups
        self._logs = logs
        self._flusher = flusher
        self._retention = retention
        self._closed = False

    @property
    def data_dir(self) -> Path:
        return self._logs.data_dir

    @classmethod
    async def open(
        cls,
        config: BrokerConfig,
        *,
        advertised: HostPort | None = None,
        clock: Clock | None = None,
        flusher: Flusher | None = None,
    ) -> BrokerNode:
        """Open the broker described by ``config``. ``advertised`` overrides the address put
        in Metadata (the port actually bound, when ``listen`` asked for port 0); ``flusher``
        replaces the one built from ``config.fsync`` (tests pass one whose fsync fails or
        stalls). The node owns and stops the flusher either way."""
        clock = clock or SystemClock()
        others = [p for p in config.peers if p.node_id != config.node_id]
        if others:
            # A broker that ignored its peers would run as an independent one-node cluster,
            # each "leading" every partition: refuse rather than split silently.
            raise InvalidConfigError(
                f"peers: this build runs a single node; replication with {others[0]} and "
                "the other peers is not available yet (omit --peers)"
            )
        defaults = TopicConfig.resolve({}, config.topic_defaults)  # InvalidConfigError early
        address = advertised or config.advertised
        me = BrokerMeta(config.node_id, address.host, address.port, config.rack)
        store = FileMetadataStore(config.data_dir, me)
        if flusher is None:
            flusher = Flusher(FlushPolicy(config.fsync.value), config.flush_interval_ms)
        logs = LogManager(config.data_dir, config=defaults.log, clock=clock, flusher=flusher)
        replicas = ReplicaManager(
            logs,
            flusher,
            node_id=config.node_id,
            clock=clock,
            topic_defaults=config.topic_defaults,
            leader_hint=lambda assignment: leader_hint_for(store.brokers(), assignment),
        )
        try:
            await asyncio.to_thread(store.load)
            await replicas.start(store, delete_strays=store.existed)
            await asyncio.to_thread(store.save_if_new)
        except BaseException:
            replicas.close()
            await asyncio.to_thread(logs.close)  # a no-op when the directory never opened
            flusher.stop()
            raise
        core = BrokerCore(config, store, replicas)
        retention = RetentionTask(lambda: replicas, config.retention_check_interval_ms)
        retention.start()
        groups = GroupService(
            config.groups, store, replicas, core.create_topics, clock, node_id=config.node_id
        )
        groups.start()
        if not logs.had_clean_shutdown and len(replicas):
            _log.warning("the last shutdown was not clean: logs were recovered")
        return cls(core, logs, flusher, retention, groups)

    async def close(self) -> None:
        """Flush and close everything; mark the shutdown clean. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.groups.close()
        await self._retention.stop()
        self.core.replicas.close()
        await asyncio.to_thread(self._logs.close)
        await asyncio.to_thread(self._flusher.stop)
