"""Brokers joining a running cluster (issue 23): the peers a broker talks to grow with the
metadata, and a broker started with ``--join`` asks its way in.

Peer lists (``--peers``) are read once, at start. A broker the other brokers' lists do not
name joins so:

1. it starts with ``--join`` and a peer list naming the running brokers and itself, and an
   empty configuration for the metadata group (it never campaigns: it learns the group's
   configuration from its leader, as a partition's joining replica does);
2. :class:`Joiner` asks its peers in turn (``ClusterInternal.Join``, admitted from an
   unknown node id with the cluster's handshake) until one has registered its internal
   address in the metadata (``ControllerStore.register_joining``, a controller write);
3. every broker applies that registration, and its :class:`PeerBook` opens a link to the
   new broker and lets it call the internal service;
4. the controller leader's quorum mover adds every registered broker that is not a member
   of the metadata group as a learner (``move_plan.quorum_step``); the new broker catches
   up the metadata, registers itself fully, heartbeats, and is a broker like the others --
   ``logd cluster partitions balance`` (or the continuous balancer) gives it replicas.

Ownership: both run on the broker's event loop (owned by ``ClusterRuntime``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final

from logd.errors import LogdError
from logd.metadata.types import BrokerMeta
from logd.v1 import cluster_pb2

__all__ = ["Joiner", "PeerBook"]

_log = logging.getLogger(__name__)

#: A join that no peer took is asked again this much later.
RETRY_S: Final = 1.0


class PeerBook:
    """The brokers this one has links to: its configured peers, then every broker the
    metadata registers. ``add_link(node, "HOST:PORT")`` opens a link; each ``subscribe``d
    callback hears every peer (the known ones at once), e.g. the internal service's
    authentication."""

    def __init__(
        self, me: int, configured: Mapping[int, str], add_link: Callable[[int, str], None]
    ) -> None:
        self._me = me
        self._add_link = add_link
        self.known: dict[int, str] = {n: a for n, a in configured.items() if n != me}
        self._callbacks: list[Callable[[int], None]] = []

    def subscribe(self, callback: Callable[[int], None]) -> None:
        self._callbacks.append(callback)
        for node in self.known:
            callback(node)

    def sync(self, brokers: Iterable[BrokerMeta]) -> list[int]:
        """The registered ``brokers``: links to those that are new; returns their ids."""
        added = []
        for broker in brokers:
            if broker.node_id == self._me or broker.node_id in self.known:
                continue
            address = f"{broker.host}:{broker.port}"
            self.known[broker.node_id] = address
            self._add_link(broker.node_id, address)
            for callback in self._callbacks:
                callback(broker.node_id)
            added.append(broker.node_id)
        if added:
            _log.info("peers added from the metadata: %s", added)
        return added


class Joiner:
    """On a broker started with ``--join``: asks the peers in turn to register it until
    this broker holds the metadata (``ready``)."""

    def __init__(
        self,
        request: cluster_pb2.JoinRequest,
        peers: Iterable[int],
        join: Callable[[int, cluster_pb2.JoinRequest], Awaitable[None]],
        ready: Callable[[], bool],
    ) -> None:
        self._request = request
        self._peers = sorted(p for p in peers if p != request.node_id)
        self._join = join
        self._ready = ready
        #: The peer that registered us (None: none yet).
        self.joined_through: int | None = None

    async def run(self) -> None:
        while not self._ready():
            if self.joined_through is None:
                await self._ask_round()
            await asyncio.sleep(RETRY_S if self.joined_through is None else 0.1)

    async def _ask_round(self) -> None:
        for peer in self._peers:
            try:
                await self._join(peer, self._request)
            except LogdError as exc:
                _log.info("join through broker %d: %s", peer, exc)
                continue
            _log.info("joined the cluster through broker %d", peer)
            self.joined_through = peer
            return
