"""The broker process's life: bind, open the node, start its front ends, serve, drain, stop.

Start: bind the gRPC port (so a port in use fails before the data directory is touched),
open the node (``build.BrokerNode``), start the brokers' Raft TCP listener (``--rpc-listen``,
``raft_listener``) and the gRPC front end (clients, and peers reaching our Raft groups),
wait until the cluster has a controller and our metadata caught up (``BrokerNode.serve``),
start every other front end whose listener is on and that exists
(``frontends.FRONT_ENDS``), write the addresses bound to ``<data-dir>/listeners.json``
(``{"grpc": "127.0.0.1:7070", …}``; port 0 in a listener becomes the port the system
chose), then report SERVING.

Stop (STYLE.md 14), in this order: every front end's ``begin_drain`` (health NOT_SERVING,
produce streams stop reading); the seam drains (waiting fetches answer with what they have,
group coordinators unload: parked JoinGroup/SyncGroup calls answer NOT_COORDINATOR); every
front end's ``stop(grace)`` at once (new calls refused, those in flight finish until the
grace period ends, then are cancelled); the Raft TCP listener's connections end (replication
ran until then); then every log is flushed and closed and the clean-shutdown marker written.

Ownership: everything runs on one event loop.
"""

from __future__ import annotations

import asyncio
import logging

from logd.broker.config import BrokerConfig
from logd.broker.listeners import BROKER_ONLY, LISTENERS
from logd.cluster.rpc_listener import RaftListener
from logd.frontends.grpc.server import GrpcFrontEnd
from logd.metadata.types import HostPort
from logd.node.build import BrokerNode, cluster_identity, cluster_peers
from logd.node.frontends import FRONT_ENDS, FrontEnd
from logd.node.listeners import forget_listeners, write_listeners
from logd.node.raft_listener import raft_listener

__all__ = ["NodeRunner"]

_log = logging.getLogger(__name__)


class NodeRunner:
    """One broker: :meth:`open`, :meth:`serve`, :meth:`stop`."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        #: The gRPC listener's address (bound), once :meth:`open` bound it.
        self.address: HostPort | None = None
        #: Every started listener's bound address, by name (``grpc`` first).
        self.bound: dict[str, HostPort] = {}
        self.node: BrokerNode | None = None
        self._grpc: GrpcFrontEnd | None = None
        self._others: list[FrontEnd] = []
        self._raft: RaftListener | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self.open()
        await self.serve()

    async def open(self) -> None:
        """Bind gRPC, open the node, start serving the internal service (peers need it to
        elect anyone)."""
        config = self.config
        peers = cluster_peers(config)
        grpc_end = GrpcFrontEnd(
            config.listen,
            max_request_bytes=config.max_request_bytes,
            max_in_flight=config.produce_max_in_flight,
            tls=config.tls,
            cluster_id=cluster_identity(config, peers),
            brokers=list(peers),
        )
        self._grpc = grpc_end
        self.address = grpc_end.bind()
        advertised = config.advertised_listen or self.address
        self.node = node = await BrokerNode.open(config, advertised=advertised)
        node.cluster.peer_book.subscribe(grpc_end.allow_broker)  # brokers that join
        forget_listeners(node.data_dir)
        store = node.cluster.store
        grpc_end.attach(
            node.seam,
            node.cluster.handler,
            idle=lambda: store is None or not store.writes_in_flight,
        )
        # The brokers' Raft TCP listener before the internal service that names it.
        self._raft = raft_listener(config, node)
        rpc = await self._raft.start() if self._raft is not None else None
        if self._raft is not None and rpc is not None:
            node.cluster.peer_book.subscribe(self._raft.allow)
            node.cluster.handler.raft_endpoint = str(_reachable(rpc, advertised))
        self.bound[grpc_end.name] = await grpc_end.start()
        if rpc is not None:
            self.bound["rpc"] = rpc

    async def serve(self) -> None:
        """Until the cluster is ready; then the other front ends start and the broker is
        reported SERVING."""
        assert self.node is not None and self._grpc is not None
        await self.node.serve()
        for spec in LISTENERS:
            address = self.config.listeners.address(spec.name)
            factory = FRONT_ENDS.get(spec.name)
            if address is None or spec.name in BROKER_ONLY:
                continue
            if factory is None:
                _log.debug("%s listener %s: no such front end yet, not started", spec.name, address)
                continue
            front_end = factory(address, self.config, self.node)
            self._others.append(front_end)
            self.bound[spec.name] = await front_end.start()
        self.node.advertise(self._advertised())
        write_listeners(self.node.data_dir, self.bound)
        await self._grpc.mark_serving()

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain and stop; see the module doc. Idempotent."""
        grace = self.config.shutdown_grace_ms / 1000.0 if grace_s is None else grace_s
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        try:
            front_ends = self._front_ends()
            for front_end in front_ends:
                front_end.begin_drain()
            if self.node is not None:
                self.node.seam.begin_drain()
            await asyncio.gather(*(f.stop(grace) for f in front_ends))
            if self._raft is not None:  # replication ran until the calls in flight ended
                await self._raft.close()
            if self.node is not None:
                await self.node.close()
        finally:
            self._stopped.set()

    async def hurry(self) -> None:
        """During :meth:`stop`: cancel the calls still in flight now, not at the grace's end."""
        await asyncio.gather(*(f.stop(0) for f in self._front_ends()))

    def _advertised(self) -> dict[str, HostPort]:
        """Where clients reach each listener beside gRPC: the bound address, or Kafka's
        ``--advertised-kafka-listener``."""
        out = {
            name: address
            for name, address in self.bound.items()
            if name != "grpc" and name not in BROKER_ONLY
        }
        advertised_kafka = self.config.listeners.advertised_kafka
        if "kafka" in out and advertised_kafka is not None:
            out["kafka"] = advertised_kafka
        return out

    def _front_ends(self) -> list[FrontEnd]:
        return [*([self._grpc] if self._grpc is not None else []), *self._others]


def _reachable(bound: HostPort, advertised: HostPort) -> HostPort:
    """Where peers reach a listener bound at ``bound``: a wildcard host (``0.0.0.0``, ``::``)
    is the broker's advertised gRPC host."""
    wildcard = bound.host in ("", "0.0.0.0", "::")
    return HostPort(advertised.host, bound.port) if wildcard else bound
