"""The names every layer above storage shares: partitions, brokers, addresses, leaders.

``TopicPartition`` is ``partitioning.model.TopicPartition`` (re-exported): one class for
every layer, defined in the pure package below all of them.

Owned by no one layer: the cluster (Raft groups, the controller), the broker core and the
front ends all speak of a ``TopicPartition``, a ``BrokerMeta`` or a ``LeaderHint``, so these
live below all of them (``docs/internals.md``, "Layers"). Plain frozen dataclasses, no I/O.
"""

from __future__ import annotations

import dataclasses

from logd.errors import LogdError
from partitioning.model import TopicPartition

__all__ = [
    "NO_LEADER",
    "UNKNOWN_STORAGE",
    "BrokerMeta",
    "BrokerStorage",
    "ControllerQuorum",
    "HostPort",
    "LeaderHint",
    "LeadershipResult",
    "TopicPartition",  # partitioning's: one for every layer
]

NO_LEADER = -1


@dataclasses.dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerStorage:
    """A broker's disk as it reports it in its heartbeats (issue 24); -1 where unknown."""

    #: Below its free-space reserve: client writes are refused there.
    full: bool = False
    #: Why the broker is degraded (a full disk, an offline log ...); "" when it is not.
    degraded: str = ""
    #: The low-space alert; "" when there is none.
    warning: str = ""
    free_bytes: int = -1
    total_bytes: int = -1
    reserve_bytes: int = -1
    #: What its partitions' logs hold.
    log_bytes: int = -1


UNKNOWN_STORAGE = BrokerStorage()


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """One of a broker's other listeners, as clients must reach it (``kafka`` …)."""

    name: str
    host: str
    port: int


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerMeta:
    node_id: int
    host: str
    port: int
    rack: str = ""
    alive: bool = True
    storage: BrokerStorage = UNKNOWN_STORAGE
    #: The advertised addresses of its other listeners (Kafka's broker registration lists
    #: every listener the same way), sorted by name.
    endpoints: tuple[Endpoint, ...] = ()
    #: Being decommissioned (issue 23): its replicas move away; nothing new lands on it.
    draining: bool = False

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)


@dataclasses.dataclass(frozen=True, slots=True)
class ControllerQuorum:
    """The controller quorum (issue 23): its leader (-1: none known), the metadata group's
    voters and learners now, and the voters it is changing to (= ``voters``: no change)."""

    leader_id: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    target: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class LeaderHint:
    """Who leads a partition, for a client that asked the wrong broker."""

    leader_id: int = NO_LEADER
    address: str = ""
    leader_epoch: int = -1


@dataclasses.dataclass(frozen=True, slots=True)
class LeadershipResult:
    """The answer to a leadership transfer: who leads now and in which epoch (the target,
    on success), or the error, with a hint on NOT_LEADER_OR_FOLLOWER."""

    leader_id: int = NO_LEADER
    leader_epoch: int = -1
    error: LogdError | None = None
    leader_hint: LeaderHint | None = None
