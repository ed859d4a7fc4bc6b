"""The cluster's own settings: what the Raft driver, the controller and liveness need, and
nothing of the broker's other configuration.

The composition root (``logd.node``) builds them from the broker's config
(``logd.node.build.cluster_settings``); the cluster never sees ``BrokerConfig``, so it sits
below the broker core (docs/internals.md, "Layers"). Field meanings and defaults are the
config keys' (``logd.broker.config``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from logd.metadata.types import HostPort
from logd.tls.settings import TlsSettings

__all__ = ["ClusterSettings"]


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterSettings:
    node_id: int
    #: Every member of the cluster by id, this node included (one entry: a single node).
    peers: Mapping[int, HostPort]
    raft_tick_ms: int = 50
    raft_election_ticks: int = 15
    raft_heartbeat_ticks: int = 3
    #: ``raft.async.writes``: several Readys in flight per group (``DriverSettings``).
    raft_async_writes: bool = False
    #: The largest message a peer link sends or accepts.
    max_message_bytes: int = 64 * 1024 * 1024
    broker_heartbeat_interval_ms: int = 500
    broker_session_timeout_ms: int = 4500
    replica_lag_time_max_ms: int = 30_000
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval_ms: int = 10_000
    partition_autobalancing_enable: bool = False
    #: Drain and autobalance moves catch up at most this many bytes/s (0: no limit).
    partition_move_throttle: int = 0
    metadata_snapshot_interval: int = 10_000
    fault_injection: bool = False
    #: Join a running cluster whose brokers' peer lists do not name this one (issue 23).
    join: bool = False
    #: What this broker presents to its peers without TLS (``logd-cluster-id``).
    cluster_id: str = ""
    #: Certificates for mTLS between brokers (None: plaintext).
    tls: TlsSettings | None = None
