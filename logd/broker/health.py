"""This broker's health, protocol-neutral (issue 24): what ``logd cluster health``, the
heartbeats and an admin health endpoint report.

* ``ok`` -- nothing to say;
* ``low_space`` -- the disk is below its alert threshold (``storage.alert.free.*``): a
  warning, every write is still accepted;
* ``degraded`` -- something is refused or not served here: the disk is below its reserve
  (client writes refused), a log is offline (being reopened after a failed fsync), the
  writes of a log are failing (retried), a partition's log could not be created (retried),
  or the metadata log or the Raft hard-state journal stopped. Each reason is one sentence
  naming what and where.

Reads only in-memory state (the disk's last sample, the logs' offline flags, sizes):
cheap enough for every heartbeat. Owned by the broker's loop.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable

from logd.broker.replicas import ReplicaManager
from logd.metadata.types import BrokerStorage
from logd.storage import LogManager
from logd.storage.space import DiskUsage, SpaceState

__all__ = ["BrokerHealth", "HealthStatus", "assess_health"]


class HealthStatus(enum.Enum):
    OK = "ok"
    LOW_SPACE = "low_space"
    DEGRADED = "degraded"


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerHealth:
    node_id: int
    status: HealthStatus
    #: Why the broker is degraded (empty unless DEGRADED), one sentence each.
    reasons: tuple[str, ...]
    #: The low-space alert, or "".
    warning: str
    disk: DiskUsage
    #: What the partitions' logs on this broker hold.
    log_bytes: int

    def storage(self) -> BrokerStorage:
        """What the heartbeats carry to the rest of the cluster."""
        disk = self.disk
        return BrokerStorage(
            full=disk.state is SpaceState.FULL,
            degraded="; ".join(self.reasons),
            warning=self.warning,
            free_bytes=disk.free_bytes,
            total_bytes=disk.total_bytes,
            reserve_bytes=disk.reserve_bytes,
            log_bytes=self.log_bytes,
        )


def assess_health(
    node_id: int,
    logs: LogManager,
    replicas: ReplicaManager,
    metadata_failed: Callable[[], str | None] = lambda: None,
    journal_failed: Callable[[], str | None] = lambda: None,
) -> BrokerHealth:
    """One look at this broker (see the module doc)."""
    disk = logs.space.usage
    reasons: list[str] = []
    if disk.state is SpaceState.FULL:
        reasons.append(f"{disk.reason}: client writes are refused")
    size = 0
    for log in logs.logs().values():
        size += log.size_bytes
        if log.offline_reason is not None:
            reasons.append(f"log {log.name} is offline ({log.offline_reason})")
    for partition in replicas:
        failing = partition.write_failing()
        if failing is not None:
            reasons.append(f"writes to log {partition.tp} are failing ({failing})")
    for tp, why in sorted(replicas.uncreated.items()):
        reasons.append(f"the log of {tp} cannot be created ({why})")
    failed = metadata_failed()
    if failed is not None:
        reasons.append(f"the metadata log stopped ({failed})")
    failed = journal_failed()
    if failed is not None:
        reasons.append(f"the Raft hard-state journal stopped ({failed})")
    warning = disk.reason if disk.state is SpaceState.LOW else ""
    if reasons:
        status = HealthStatus.DEGRADED
    elif warning:
        status = HealthStatus.LOW_SPACE
    else:
        status = HealthStatus.OK
    return BrokerHealth(node_id, status, tuple(reasons), warning, disk, size)
