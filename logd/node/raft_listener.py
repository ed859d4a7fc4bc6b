"""The brokers' Raft TCP listener (``--rpc-listen``), built from the broker's config: the
composition root's part of ``logd.cluster.rpc_listener``.

Its TLS is the broker's (certificate, key, CA; the files reloaded like every listener's),
with a client certificate *required* whatever ``tls.client.auth`` says: only brokers call
it. TLS without a CA cannot verify a broker, so the listener stays off then (logged once)
and peers send Raft frames over the internal gRPC service, as to an older broker.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import dataclasses
import logging

from logd.broker.config import BrokerConfig
from logd.cluster.rpc_listener import RaftListener, RaftListenerSettings
from logd.node.build import BrokerNode
from logd.tls.contexts import ReloadingServerContext
from logd.tls.files import TlsFiles
from logd.tls.settings import ClientAuth

__all__ = ["raft_listener"]

_log = logging.getLogger(__name__)


def raft_listener(config: BrokerConfig, node: BrokerNode) -> RaftListener | None:
    """The listener (not started), or None when it is off."""
    address = config.listeners.address("rpc")
    if address is None:
        return None
    cluster = node.cluster
    context = None
    if config.tls.enabled:
        if config.tls.ca is None:
            _log.warning(
                "rpc listener off: TLS without --tls-ca cannot verify brokers"
                " (Raft frames come over the gRPC listener)"
            )
            return None
        tls = dataclasses.replace(config.tls, client_auth=ClientAuth.REQUIRED)
        context = ReloadingServerContext(TlsFiles(tls))
    settings = RaftListenerSettings(
        address=address,
        node_id=cluster.node_id,
        cluster_id=cluster.config.cluster_id,
        max_frame_bytes=cluster.config.max_message_bytes,
    )
    return RaftListener(
        settings,
        cluster.handler,
        cluster.peers,
        tls=context.context if context is not None else None,
        tls_refresh=context.refresh if context is not None else lambda: None,
    )
