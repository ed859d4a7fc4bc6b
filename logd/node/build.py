"""One broker's resources, opened and closed in the right order.

Open (:meth:`BrokerNode.open`): the flusher thread; the data directory (locked, every log
recovered); the cluster runtime (``logd.cluster.runtime``: the controller group over
``__cluster_metadata-0``, the Raft driver and transport, broker heartbeats); the core, the
group service and the seam front ends call (``logd.broker.seam``). The internal service's
front end (gRPC) must then start -- peers reach our Raft groups through it -- before
:meth:`BrokerNode.serve` waits for the controller and the metadata to catch up, hosts the
partitions (each a Raft group), and starts retention and the group coordinators (which follow
the leadership of ``__consumer_offsets``). One node is a one-voter cluster: the same path.

Close: the group coordinators unload (waiting group requests answer NOT_COORDINATOR);
retention stops; partitions stop (pending acks=all answers fail); the Raft groups and
transport stop; every log is flushed and closed, and the clean-shutdown marker written
(``LogManager.close``); the flusher thread ends.

Ownership: opened and closed on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from logd.broker.api import BrokerMeta, Endpoint
from logd.broker.config import BrokerConfig
from logd.broker.core import BrokerCore
from logd.broker.groups.service import GroupService
from logd.broker.replicas import ReplicaManager
from logd.broker.retention import RetentionTask
from logd.broker.routing import Forwarder, Router
from logd.broker.seam import BrokerSeam
from logd.broker.security.config import derived_cluster_id
from logd.broker.security.services import SecurityServices
from logd.broker.topic_config import TopicConfig
from logd.clock import Clock, SystemClock
from logd.cluster.runtime import ClusterRuntime
from logd.cluster.settings import ClusterSettings
from logd.frontends.grpc.forwarder import GrpcForwarder
from logd.frontends.http.mounts import HttpMounts
from logd.metadata.store import leader_hint_for
from logd.metadata.types import HostPort
from logd.storage import Flusher, FlushPolicy, LogManager
from logd.storage.space import DiskUsage, SpaceState

if TYPE_CHECKING:  # the registry front end's (its schema parsers load only when it starts)
    from logd.registry.state import RegistryState

__all__ = ["BrokerNode", "cluster_identity", "cluster_peers", "cluster_settings"]

_log = logging.getLogger(__name__)


class BrokerNode:
    """The open broker: ``node.core`` serves requests (once :meth:`serve` returned) until
    :meth:`close`."""

    def __init__(
        self,
        core: BrokerCore,
        logs: LogManager,
        flusher: Flusher,
        retention: RetentionTask,
        groups: GroupService,
        cluster: ClusterRuntime,
        forwarder: Forwarder,
        security: SecurityServices | None = None,
    ) -> None:
        self.core = core
        self.groups = groups
        #: Authentication, ACLs and quotas of every front end (issue 15).
        self.security = security
        #: What front ends call (``logd.broker.seam``).
        self.seam = BrokerSeam(core, groups, security=security)
        #: The seam, for front ends whose clients do not route themselves (MQTT, HTTP):
        #: what another broker leads is forwarded there (``logd.broker.routing``).
        self.router = Router(self.seam, forwarder)
        #: Routes other front ends serve on the HTTP listener (``/mqtt``; its module doc).
        self.http_mounts = HttpMounts()
        #: The registry front end's applied copy of ``_schemas`` (None until it serves),
        #: set by ``logd.node.frontends``: the admin console's schema pages read it.
        self.registry_state: Callable[[], RegistryState | None] = lambda: None
        self.cluster = cluster
        self._logs = logs
        self._flusher = flusher
        self._retention = retention
        self._closed = False
        self._serving = False

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
        """Open the broker described by ``config`` (phase one; see the module doc).
        ``advertised`` overrides the address put in Metadata (the port actually bound, when
        ``listen`` asked for port 0); ``flusher`` replaces the one built from
        ``config.fsync`` (tests pass one whose fsync fails or stalls). The node owns and
        stops the flusher either way."""
        clock = clock or SystemClock()
        defaults = TopicConfig.resolve({}, config.topic_defaults)  # InvalidConfigError early
        address = advertised or config.advertised
        known = config.listeners.known_before_binding()
        endpoints = tuple(Endpoint(n, a.host, a.port) for n, a in sorted(known.items()))
        me = BrokerMeta(
            config.node_id, address.host, address.port, config.rack, endpoints=endpoints
        )
        if flusher is None:
            flusher = Flusher(FlushPolicy(config.fsync.value), config.flush_interval_ms)
        logs = LogManager(
            config.data_dir, config=defaults.log, clock=clock, flusher=flusher,
            cleaner=config.cleaner, space=config.space,
        )  # fmt: skip
        cluster = ClusterRuntime(cluster_settings(config, address), me, logs, flusher, clock)
        try:
            await asyncio.to_thread(logs.open, {})
            store = await cluster.open()
        except BaseException:
            await cluster.close()
            await asyncio.to_thread(logs.close)  # a no-op when the directory never opened
            flusher.stop()
            raise
        replicas = ReplicaManager(
            logs,
            flusher,
            node_id=config.node_id,
            clock=clock,
            topic_defaults=config.topic_defaults,
            leader_hint=lambda assignment: leader_hint_for(store.brokers(), assignment),
            replication=cluster,
        )
        cluster.bind(replicas.announce_leadership)
        core = BrokerCore(config, store, replicas, cluster.leadership)
        core.telemetry.raft = cluster.driver
        core.telemetry.fsync = flusher.fsync_seconds
        core.telemetry.cleaner = logs.cleaner
        core.metadata_failed = lambda: store.failed
        core.journal_failed = lambda: cluster.journal.failed if cluster.journal else None
        cluster.set_local_storage(lambda: core.health().storage())
        retention = RetentionTask(lambda: replicas, config.retention_check_interval_ms)
        loop = asyncio.get_running_loop()

        def space_changed(usage: DiskUsage) -> None:
            # The disk went low or full (or came back): retention frees space, so run it
            # now; the heartbeat tells the controller (leaders elsewhere, health) at once.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody cares
                loop.call_soon_threadsafe(retention.wake)
                if cluster.liveness is not None:
                    loop.call_soon_threadsafe(cluster.liveness.poke)
                if usage.state is not SpaceState.FULL:
                    loop.call_soon_threadsafe(replicas.retry_creations_now)

        logs.space.add_listener(space_changed)
        groups = GroupService(
            config.groups, store, replicas, core.create_topics, clock, node_id=config.node_id
        )
        security = SecurityServices.build(
            config.security, lambda: store.security, store.write_security, clock
        )
        settings = cluster.config
        forwarder = GrpcForwarder(
            max_message_bytes=config.max_request_bytes,
            node_id=config.node_id,
            cluster_id=settings.cluster_id,
            tls=settings.tls,
        )
        return cls(core, logs, flusher, retention, groups, cluster, forwarder, security)

    async def serve(self) -> None:
        """Phase two: wait for the controller, host the partitions, start the services."""
        cluster = self.cluster
        store = cluster.store
        assert store is not None
        await cluster.wait_ready()
        # A new metadata log (a fresh directory, or one that lost it) must never delete the
        # logs it does not know: they may be all that is left of the data.
        delete_strays = not cluster.metadata_fresh
        async with store.publish_lock:
            await self.core.replicas.start(store, delete_strays=delete_strays, open_logs=False)
        await cluster.settle(list(self.core.replicas))
        store.spawn(store.register_broker(), "broker registration")
        if self.security is not None:  # a failed write is logged; the next start retries
            self.security.check_bootstrap_user()
            store.spawn(self.security.bootstrap_user(), "bootstrap user")
        self._retention.start()
        self.groups.start()
        self._serving = True
        if not self._logs.had_clean_shutdown and len(self.core.replicas):
            _log.warning("the last shutdown was not clean: logs were recovered")

    def advertise(self, endpoints: Mapping[str, HostPort]) -> None:
        """Register this broker's other listeners (``kafka`` …) at these addresses, so every
        broker's Metadata answers can name them (Kafka's broker registration)."""
        store = self.cluster.store
        assert store is not None
        listed = tuple(Endpoint(n, a.host, a.port) for n, a in sorted(endpoints.items()))
        store.me = dataclasses.replace(store.me, endpoints=listed)
        store.spawn(store.register_broker(), "broker registration")

    async def close(self) -> None:
        """Flush and close everything; mark the shutdown clean. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.groups.close()
        if self._serving:
            await self._retention.stop()
        self.core.replicas.close()
        await self.router.close()
        await self.cluster.close()
        await asyncio.to_thread(self._logs.close)
        await asyncio.to_thread(self._flusher.stop)


def cluster_peers(config: BrokerConfig, advertised: HostPort | None = None) -> dict[int, HostPort]:
    """Every broker of the cluster by id; a single node (no ``peers``) is its own only peer."""
    return {p.node_id: p.address for p in config.peers} or {
        config.node_id: advertised or config.advertised
    }


def cluster_identity(config: BrokerConfig, peers: Mapping[int, HostPort]) -> str:
    """The cluster id brokers present to each other without TLS (``cluster.id``, else a
    digest of the peer list)."""
    return config.cluster_id or derived_cluster_id({n: str(a) for n, a in peers.items()})


def cluster_settings(config: BrokerConfig, advertised: HostPort) -> ClusterSettings:
    """The cluster's part of the broker's config; a single node (no ``peers``) is its own
    only peer, at ``advertised``."""
    peers = cluster_peers(config, advertised)
    return ClusterSettings(
        node_id=config.node_id,
        peers=peers,
        cluster_id=cluster_identity(config, peers),
        tls=config.tls if config.tls.enabled else None,
        raft_tick_ms=config.raft_tick_ms,
        raft_election_ticks=config.raft_election_ticks,
        raft_heartbeat_ticks=config.raft_heartbeat_ticks,
        raft_async_writes=config.raft_async_writes,
        max_message_bytes=config.max_request_bytes,
        broker_heartbeat_interval_ms=config.broker_heartbeat_interval_ms,
        broker_session_timeout_ms=config.broker_session_timeout_ms,
        replica_lag_time_max_ms=config.replica_lag_time_max_ms,
        auto_leader_rebalance_enable=config.auto_leader_rebalance_enable,
        leader_imbalance_check_interval_ms=config.leader_imbalance_check_interval_ms,
        partition_autobalancing_enable=config.partition_autobalancing_enable,
        partition_move_throttle=config.partition_move_throttle,
        metadata_snapshot_interval=config.metadata_snapshot_interval,
        fault_injection=config.fault_injection,
        join=config.join,
    )
