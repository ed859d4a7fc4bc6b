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

__all__ = ["ClusterSettings", "DriverSettings"]


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


@dataclasses.dataclass(frozen=True, slots=True)
class DriverSettings:
    """Timing of every group (``raft.*`` broker keys)."""

    tick_ms: int = 50
    election_ticks: int = 15  # follower timeout 0.75-1.5 s at 50 ms ticks
    heartbeat_ticks: int = 3  # 150 ms
    max_append_bytes: int = 1 << 20
    max_inflight_appends: int = 64
    #: Idle groups stop ticking (``raft.quiesce``); off, every group ticks for ever.
    quiesce: bool = True
    #: A peer the transport could not reach is taken as down for this long after the last
    #: failed send (unless a write goes through first). Then its groups look again: a
    #: quiet leader sends nothing to a peer it takes as down, so nothing else would tell
    #: it that the peer is back (a restarted broker whose new stream came before the old
    #: one's end; a cut nobody else saw). Longer than the controller's session timeout
    #: (4.5 s; the runtime keeps it past a longer one): a broker that died is declared
    #: down by then, and the expiry changes nothing -- a shorter one woke every group of
    #: the dead broker a second time, in the middle of the elections that replace it.
    unreachable_suspect_s: float = 10.0
    #: A candidate missing a live voter's answer waits up to this many more election
    #: timeouts (``Config.vote_wait``): a vote costs an fsync at each end (issue 21).
    vote_wait: int = 3
    #: Several Readys in flight per group (``Config.async_writes``; issue 22): the broker's
    #: ``raft.async.writes`` (off by default).
    async_writes: bool = False
    #: A peer whose frames arrived within this long is not taken as down for the
    #: controller's word or a full send queue (``down_peers.py``; the runtime sets the
    #: broker session timeout).
    alive_s: float = 4.5
    #: A follower whose leader's broker is heard (within ``alive_s``, not taken as down)
    #: neither campaigns nor grants (pre-)votes until this many election timeouts pass
    #: without its group's own heartbeat (``Config.vouched_lease``; issue 21).
    vouched_lease: int = 4
