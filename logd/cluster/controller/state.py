"""What the three parts of the controller store share: this broker, its peers, the leader
table, the applied image and the controller group -- one object, so that a snapshot that
replaces the image replaces it for all of them.

The parts (``ControllerStore`` composes them): ``view.MetadataView`` reads,
``writes.ControllerWrites`` writes (forwarded to the leader, or carried out there), and
``listener.ControllerListener`` follows the Raft group (applies, publishes, compacts).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from logd.cluster.controller.image import MetadataImage
from logd.cluster.group import RaftGroup
from logd.cluster.table import LeaderTable
from logd.metadata.types import UNKNOWN_STORAGE, BrokerMeta, BrokerStorage, HostPort
from replication import Role

__all__ = ["ControllerState"]


@dataclasses.dataclass(eq=False)
class ControllerState:
    me: BrokerMeta
    peers: dict[int, HostPort]
    table: LeaderTable
    image: MetadataImage = dataclasses.field(default_factory=MetadataImage)
    group: RaftGroup | None = None
    #: The leader has applied everything before its own term (its checks are not stale).
    term_applied: bool = False
    #: Set whenever the controller's leadership changes (writes waiting for a leader).
    leader_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    #: Called when a write waits for the other brokers, and when this broker published
    #: new metadata: heartbeat now rather than at the next interval.
    propagating: Callable[[], None] = lambda: None
    #: Why the metadata log stopped (a failed fsync, damage); None while it works.
    failed: str | None = None
    #: This broker's own disk, fresher than what the table echoes (the node sets it).
    local_storage: Callable[[], BrokerStorage] = lambda: UNKNOWN_STORAGE

    @property
    def is_leader(self) -> bool:
        return self.group is not None and self.group.node.role is Role.LEADER

    @property
    def controller_id(self) -> int:
        leader = self.group.node.leader if self.group is not None else None
        return -1 if leader is None else leader
