"""Broker heartbeats, the leader/ISR table, and leadership rebalancing.

Every ``broker.heartbeat.interval.ms`` each broker (1) samples the in-sync replicas of the
partitions it leads (``IsrTracker``), (2) tells the controller leader which partitions it
leads, at which epoch, with which ISR, and (3) takes the controller's answer: the table of
every partition's leader and ISR and the live brokers (soft state, never in the log), the
controller's applied metadata offset (a starting broker serves once it has caught up to
it), and the leadership moves asked of it.

Rebalancing (Kafka's ``auto.leader.rebalance.enable``, on by default): every
``leader.imbalance.check.interval.ms`` the controller leader computes
``partitioning.preferred_leader_moves`` over the table -- only towards preferred replicas
that are live *and* in the ISR, i.e. caught up -- and hands each leader its moves in its
next heartbeat answer; the leader asks its Raft group to transfer (TimeoutNow).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from logd.clock import Clock
from logd.cluster.controller.store import ControllerStore
from logd.cluster.table import LeaderInfo, LeaderTable
from logd.errors import LogdError
from logd.metadata.types import UNKNOWN_STORAGE, BrokerStorage
from logd.v1 import cluster_pb2
from partitioning import preferred_leader_moves

__all__ = ["Liveness", "LivenessSettings", "storage_from_proto", "storage_to_proto"]

_log = logging.getLogger(__name__)

Key = tuple[str, int]


class LedReplica(Protocol):
    """What liveness needs of a hosted partition's replica (``PartitionReplica``)."""

    key: Key

    def leader_info(self, now_ms: int) -> LeaderInfo | None: ...

    def transfer(self, to: int) -> None: ...


class LivenessSettings:
    def __init__(
        self,
        interval_ms: int = 500,
        session_timeout_ms: int = 4500,
        rebalance_ms: int = 10_000,
        *,
        rebalance: bool = True,
    ) -> None:
        self.interval_ms = interval_ms
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_ms = rebalance_ms
        #: ``auto.leader.rebalance.enable``: off, the controller plans no moves at all.
        self.rebalance = rebalance


class Liveness:
    """The heartbeat loop of this broker, and the controller leader's side of it."""

    def __init__(
        self,
        node_id: int,
        store: ControllerStore,
        table: LeaderTable,
        replicas: Callable[[], Iterable[LedReplica]],
        send: Callable[[int, cluster_pb2.BrokerHeartbeatRequest], object],
        clock: Clock,
        settings: LivenessSettings,
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._table = table
        self._replicas = replicas
        self._send = send
        self._clock = clock
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._moves: dict[int, list[tuple[str, int, int]]] = {}
        self._next_rebalance_ms = 0
        self._woken = asyncio.Event()
        #: This broker's disk, sent with every heartbeat (issue 24; the node sets it).
        self.local_storage: Callable[[], BrokerStorage] = lambda: UNKNOWN_STORAGE

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="liveness")

    def poke(self) -> None:
        """Heartbeat now (the controller changed: do not wait for the interval)."""
        self._woken.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        interval = self.settings.interval_ms / 1000.0
        while True:
            try:
                await self.beat()
            except Exception:
                _log.exception("broker heartbeat failed")
            self._woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), interval)

    async def beat(self) -> None:
        now = self._clock.now_ms()
        led: list[cluster_pb2.LedPartition] = []
        by_key: dict[Key, LedReplica] = {}
        for replica in self._replicas():
            info = replica.leader_info(now)
            if info is None:
                continue
            by_key[replica.key] = replica
            led.append(
                cluster_pb2.LedPartition(
                    topic=replica.key[0], partition=replica.key[1],
                    leader_epoch=info.epoch, isr=list(info.isr),
                )
            )  # fmt: skip
        request = cluster_pb2.BrokerHeartbeatRequest(
            node_id=self.node_id, led=led, metadata_offset=self._store.published,
            storage=storage_to_proto(self.node_id, self.local_storage()),
        )  # fmt: skip
        controller = self._store.controller_id
        if controller < 0:
            return
        if controller == self.node_id:
            response = self.handle(request)
        else:
            try:
                response = await self._send(controller, request)  # type: ignore[misc]
            except LogdError as exc:
                _log.debug("heartbeat to controller %d: %s", controller, exc)
                return
            self._table.replace(
                response.controller_id,
                response.live_brokers,
                {
                    (p.topic, p.partition): LeaderInfo(b, p.leader_epoch, tuple(p.isr))
                    for b, p in zip(response.leader_brokers, response.led, strict=False)
                },
                response.metadata_offset,
                {s.node_id: storage_from_proto(s) for s in response.storage},
            )
        for move in response.moves:
            moving = by_key.get((move.topic, move.partition))
            if moving is not None:
                moving.transfer(move.to)

    # -- the controller leader --------------------------------------------------------

    def handle(
        self, request: cluster_pb2.BrokerHeartbeatRequest
    ) -> cluster_pb2.BrokerHeartbeatResponse:
        """A broker's heartbeat, answered by the controller leader (this broker)."""
        table = self._table
        now = self._clock.now_ms()
        if not self._store.is_leader:
            return cluster_pb2.BrokerHeartbeatResponse(controller_id=self._store.controller_id)
        table.report(
            request.node_id,
            [
                ((p.topic, p.partition), LeaderInfo(request.node_id, p.leader_epoch, tuple(p.isr)))
                for p in request.led
            ],
            now,
            request.metadata_offset,
            storage_from_proto(request.storage) if request.HasField("storage") else None,
        )
        if self.settings.rebalance and now >= self._next_rebalance_ms:
            self._next_rebalance_ms = now + self.settings.rebalance_ms
            self._plan_moves()
        response = cluster_pb2.BrokerHeartbeatResponse(
            controller_id=self.node_id,
            live_brokers=sorted(table.live),
            metadata_offset=self._store.published,
        )
        for (topic, partition), info in table.partitions.items():
            response.leader_brokers.append(info.leader)
            response.led.append(
                cluster_pb2.LedPartition(
                    topic=topic, partition=partition, leader_epoch=info.epoch, isr=list(info.isr)
                )
            )
        for node_id, storage in sorted(table.storage.items()):
            response.storage.append(storage_to_proto(node_id, storage))
        for topic, partition, to in self._moves.pop(request.node_id, []):
            response.moves.append(cluster_pb2.LeaderMove(topic=topic, partition=partition, to=to))
        return response

    def _plan_moves(self) -> None:
        table = self._table
        assignment: dict[Key, tuple[int, ...]] = {}
        for name, record in self._store.topics().items():
            for a in record.partitions:
                if (name, a.partition) in table.partitions:
                    assignment[(name, a.partition)] = a.replicas
        current = {k: v.leader for k, v in table.partitions.items()}
        in_sync = {k: v.isr for k, v in table.partitions.items()}
        # Never towards a broker whose disk is below its reserve: it would step down again.
        moves = preferred_leader_moves(assignment, current, table.live - table.full, in_sync)
        planned: dict[int, list[tuple[str, int, int]]] = {}
        for key, to in moves.items():
            planned.setdefault(current[key], []).append((key[0], key[1], to))
        self._moves = planned
        if planned:
            _log.info("rebalancing leadership: %d partitions move to their preferred replica",
                      sum(len(v) for v in planned.values()))  # fmt: skip


def storage_to_proto(node_id: int, storage: BrokerStorage) -> cluster_pb2.BrokerStorage:
    return cluster_pb2.BrokerStorage(
        node_id=node_id, full=storage.full, degraded=storage.degraded, warning=storage.warning,
        free_bytes=storage.free_bytes, total_bytes=storage.total_bytes,
        reserve_bytes=storage.reserve_bytes, log_bytes=storage.log_bytes,
    )  # fmt: skip


def storage_from_proto(message: cluster_pb2.BrokerStorage) -> BrokerStorage:
    return BrokerStorage(
        message.full, message.degraded, message.warning, message.free_bytes,
        message.total_bytes, message.reserve_bytes, message.log_bytes,
    )  # fmt: skip
