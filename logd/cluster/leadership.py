"""Operator-driven leadership transfer (Kafka's ElectLeaders for the preferred replica,
Redpanda's ``rpk cluster partitions transfer-leadership``).

Any broker takes ``LogAdmin.TransferLeadership``. It checks the request against the
metadata (the topic and partition exist; the target -- or, given -1, the preferred
replica, the first of the assignment -- is one of the partition's replicas), then:

* when it leads the partition here: a target not in the in-sync replicas, and not caught
  up within a second either, is refused (REPLICA_NOT_AVAILABLE, retriable: it may catch
  up); the current leader as target is
  answered at once; otherwise the Raft group hands over (``transfer_leadership``: the
  target is brought up to date, then sent TimeoutNow) and the answer waits until another
  broker leads -- the new leader and its epoch -- or the transfer fails
  (REQUEST_TIMED_OUT: Raft abandons it after an election timeout);
* else it forwards the request once, over ``ClusterInternal.TransferLeadership``, to the
  broker it believes leads; a broker that gets a forwarded request it cannot serve
  answers NOT_LEADER_OR_FOLLOWER with a hint, never forwards again (no loops). With no
  leader known: LEADER_NOT_AVAILABLE.

Every failure is a typed ``LogdError`` in the answer (``LeadershipResult.error``).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from logd.cluster.replicated import PartitionReplica
from logd.errors import (
    InvalidReplicaAssignmentError,
    InvalidRequestError,
    LeaderNotAvailableError,
    LogdError,
    NotLeaderOrFollowerError,
    ReplicaNotAvailableError,
    UnknownTopicOrPartitionError,
    error_for_code,
)
from logd.metadata.store import MetadataStore, PartitionAssignment
from logd.metadata.types import NO_LEADER, LeaderHint, LeadershipResult, TopicPartition
from logd.storage import validate_topic_name
from logd.v1 import admin_pb2, cluster_pb2
from replication import Role

__all__ = [
    "DEFAULT_TRANSFER_TIMEOUT_MS",
    "MAX_TRANSFER_TIMEOUT_MS",
    "LeadershipTransfers",
    "result_from_proto",
]

_log = logging.getLogger(__name__)

#: How long a transfer may take by default: Raft abandons one after an election timeout
#: (0.75-1.5 s with the default ticks); catching the target up comes first.
DEFAULT_TRANSFER_TIMEOUT_MS: Final = 10_000
MAX_TRANSFER_TIMEOUT_MS: Final = 120_000
#: How long a target outside the ISR gets to show it has caught up (a new leader's ISR
#: holds only itself until its first samples).
CATCH_UP_WAIT_S: Final = 1.0

Forward = Callable[
    [int, cluster_pb2.ForwardedTransfer], Awaitable[admin_pb2.TransferLeadershipResponse]
]


class LeadershipTransfers:
    """Serves transfer requests on one broker (see the module doc)."""

    def __init__(
        self,
        node_id: int,
        store: Callable[[], MetadataStore | None],
        replica: Callable[[TopicPartition], PartitionReplica | None],
        forward: Forward,
        hint_for: Callable[[int, int], LeaderHint],
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._replica = replica
        self._forward = forward
        self._hint_for = hint_for

    async def transfer(
        self, topic: str, partition: int, target: int, timeout_ms: int, *, forwarded: bool = False
    ) -> LeadershipResult:
        try:
            return await self._transfer(topic, partition, target, timeout_ms, forwarded)
        except NotLeaderOrFollowerError as exc:
            return LeadershipResult(error=exc, leader_hint=self._hint(topic, partition))
        except LogdError as exc:
            return LeadershipResult(error=exc)

    async def forwarded(self, request: cluster_pb2.ForwardedTransfer) -> LeadershipResult:
        """A transfer another broker forwarded here (the internal service's handler)."""
        r = request.request
        return await self.transfer(r.topic, r.partition, r.target, r.timeout_ms, forwarded=True)

    async def _transfer(
        self, topic: str, partition: int, target: int, timeout_ms: int, forwarded: bool
    ) -> LeadershipResult:
        assignment = self._assignment(topic, partition)
        target = _target(topic, assignment, target)
        timeout_ms = _timeout(timeout_ms)
        tp = TopicPartition(topic, partition)
        replica = self._replica(tp)
        group = replica.group if replica is not None else None
        if replica is None or group is None or group.node.role is not Role.LEADER:
            if forwarded:
                raise NotLeaderOrFollowerError(f"{tp}: broker {self.node_id} is not the leader")
            return await self._forward_to_leader(tp, replica, assignment, target, timeout_ms)
        term = group.node.term
        if target == self.node_id:
            return LeadershipResult(self.node_id, term)
        if not await replica.caught_up(target, min(timeout_ms / 1000.0, CATCH_UP_WAIT_S)):
            raise ReplicaNotAvailableError(
                f"{tp}: broker {target} is not in sync (in-sync replicas "
                f"{_ids(replica.isr.in_sync)}): it cannot lead now"
            )
        leader, epoch = await replica.hand_over(target, timeout_ms / 1000.0)
        if leader != target:
            raise LeaderNotAvailableError(
                f"{tp}: broker {leader} took the leadership in epoch {epoch}, not {target}"
            )
        _log.info("%s: leadership moved to broker %d in epoch %d", tp, leader, epoch)
        return LeadershipResult(leader, epoch)

    def _assignment(self, topic: str, partition: int) -> PartitionAssignment:
        validate_topic_name(topic)
        store = self._store()
        record = store.topic(topic) if store is not None else None
        if record is None:
            raise UnknownTopicOrPartitionError(f"topic {topic!r} does not exist")
        if not 0 <= partition < len(record.partitions):
            raise UnknownTopicOrPartitionError(f"topic {topic!r} has no partition {partition}")
        return record.partitions[partition]

    async def _forward_to_leader(
        self,
        tp: TopicPartition,
        replica: PartitionReplica | None,
        assignment: PartitionAssignment,
        target: int,
        timeout_ms: int,
    ) -> LeadershipResult:
        leader = replica.local_view()[0] if replica is not None else None
        if leader is None or leader == self.node_id:
            leader = assignment.leader_id
        if leader in (None, NO_LEADER, self.node_id):
            raise LeaderNotAvailableError(f"{tp} has no leader now; try again")
        request = cluster_pb2.ForwardedTransfer(
            src=self.node_id,
            request=admin_pb2.TransferLeadershipRequest(
                topic=tp.topic, partition=tp.partition, target=target, timeout_ms=timeout_ms
            ),
        )
        return result_from_proto(await self._forward(leader, request))

    def _hint(self, topic: str, partition: int) -> LeaderHint:
        replica = self._replica(TopicPartition(topic, partition))
        if replica is not None:
            leader, term, _ = replica.local_view()
            if leader is not None:
                return self._hint_for(leader, term)
        store = self._store()
        record = store.topic(topic) if store is not None else None
        if record is None or not 0 <= partition < len(record.partitions):
            return LeaderHint()
        a = record.partitions[partition]
        return self._hint_for(a.leader_id, a.leader_epoch)


def _target(topic: str, assignment: PartitionAssignment, target: int) -> int:
    tp = f"{topic}-{assignment.partition}"
    if target == NO_LEADER:
        return assignment.replicas[0]
    if target < 0:
        raise InvalidRequestError(f"target must be a broker id or -1 (preferred), not {target}")
    if target not in assignment.replicas:
        raise InvalidReplicaAssignmentError(
            f"broker {target} is not a replica of {tp} (replicas {_ids(assignment.replicas)})"
        )
    return target


def _timeout(timeout_ms: int) -> int:
    if timeout_ms < 0:
        raise InvalidRequestError(f"timeout_ms must be >= 0, not {timeout_ms}")
    return min(timeout_ms or DEFAULT_TRANSFER_TIMEOUT_MS, MAX_TRANSFER_TIMEOUT_MS)


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(map(str, ids)) or "none"


def result_from_proto(response: admin_pb2.TransferLeadershipResponse) -> LeadershipResult:
    """A peer's answer to a forwarded transfer."""
    error = None
    if response.error.code != 0:
        error = error_for_code(response.error.code, response.error.message)
    hint = None
    if response.HasField("leader_hint"):
        h = response.leader_hint
        hint = LeaderHint(h.leader_id, h.address, h.leader_epoch)
    return LeadershipResult(response.leader_id, response.leader_epoch, error, hint)
