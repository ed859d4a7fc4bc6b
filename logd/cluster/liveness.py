"""Broker heartbeats, the leader/ISR table, and leadership rebalancing.

Every ``broker.heartbeat.interval.ms`` each broker (1) samples the in-sync replicas of the
partitions it leads (``IsrTracker``; a quiet leader's once per quiet spell), (2) tells the
controller leader which partitions it leads, at which epoch, with which ISR -- only what
changed since its last answered heartbeat (what a failed one carried goes again), everything
for a new controller, at most ``report.REPORT_LIMIT`` entries a heartbeat (``report.py``)
-- and (3) takes the controller's answer: the changes to the table of every partition's
leader and ISR (``table.py``), the live brokers and those declared down (soft state, never
in the log; quiet Raft groups act on the latter: ``on_down``), the controller's applied
metadata offset (a starting broker serves once it has caught up to it), and the
leadership moves asked of it. An idle cluster's heartbeats thus carry no partitions.

While leadership changes -- here, or in the answers -- the next heartbeat leaves within
:data:`SOON_S` rather than at the interval (``soon``): after a broker died, every new
leader reaches the controller, and the controller's table every broker, a tenth of a
second after the election instead of up to two intervals later (issue 21: clients learn
new leaders from any broker's table). Heartbeats go back to the interval once nothing
changes.

Rebalancing (Kafka's ``auto.leader.rebalance.enable``, on by default): every
``leader.imbalance.check.interval.ms`` the controller leader computes
``partitioning.preferred_leader_moves`` over the table -- only towards preferred replicas
that are live *and* in the ISR, i.e. caught up -- and hands each leader its moves in its
next heartbeat answer; the leader asks its Raft group to transfer (TimeoutNow) -- at most
:data:`MOVES_PER_CHECK` a check, so that a cluster far off balance (every leader elected
while one broker was still hosting) walks back in steps instead of one storm of elections.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from logd.clock import Clock
from logd.cluster.controller.store import ControllerStore
from logd.cluster.report import LeaderReport
from logd.cluster.table import LeaderInfo, LeaderTable
from logd.cluster.table_pages import TablePages
from logd.errors import LogdError
from logd.metadata.types import UNKNOWN_STORAGE, BrokerStorage
from logd.v1 import cluster_pb2
from partitioning import preferred_leader_moves

__all__ = ["Liveness", "LivenessSettings", "plan_moves", "storage_from_proto", "storage_to_proto"]

_log = logging.getLogger(__name__)

Key = tuple[str, int]

#: How soon a heartbeat follows a change of leadership (at most one per this long).
SOON_S: Final = 0.1
#: Table entries per heartbeat answer; the rest follow in the next (``LeaderTable.changes_since``).
ANSWER_LIMIT: Final = 2000
#: Leadership moves one rebalancing check plans at most; the rest follow at the next checks.
#: Each is an election plus the new leader's work (epoch, log, table); 3,330 at once (10,000
#: partitions, issue 21) held the receiving broker's loop 20 s, its followers timed out, and
#: a broker killed meanwhile left 6,000 groups electing for minutes.
MOVES_PER_CHECK: Final = 300


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
        replicas: Callable[[], tuple[bool, Iterable[LedReplica]]],
        send: Callable[[int, cluster_pb2.BrokerHeartbeatRequest], object],
        clock: Clock,
        settings: LivenessSettings,
        on_down: Callable[[frozenset[int]], None] = lambda down: None,
        alive: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._table = table
        self._replicas = replicas
        #: What we lead as last sampled (``_sample``); what the controller holds of it
        #: and the keys whose info changed since (``report.py``).
        self._leading: dict[Key, LeaderInfo] = {}
        self._by_key: dict[Key, LedReplica] = {}
        self._report = LeaderReport()
        self._send = send
        self._clock = clock
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._moves: dict[int, list[tuple[str, int, int]]] = {}
        #: Brokers being sent the whole table, a page an answer (``table_pages.py``).
        self._pages = TablePages(ANSWER_LIMIT)
        #: What the last check that found nothing to move looked at (table, live brokers,
        #: full disks, metadata): while it stays the same there is nothing to plan.
        self._balanced_at: tuple[object, ...] | None = None
        self._next_rebalance_ms = 0
        self._woken = asyncio.Event()
        self._soon: asyncio.TimerHandle | None = None
        #: This broker's disk, sent with every heartbeat (issue 24; the node sets it).
        self.local_storage: Callable[[], BrokerStorage] = lambda: UNKNOWN_STORAGE
        self._on_down = on_down
        #: The brokers whose Raft frames reached us within the session timeout: alive,
        #: however late their heartbeats (the driver's ``alive``).
        self._alive = alive
        self._spared: frozenset[int] = frozenset()
        #: The controller our report was last sent to.
        self._reported_to = -1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="liveness")

    def poke(self) -> None:
        """Heartbeat now (the controller changed: do not wait for the interval)."""
        self._woken.set()

    def soon(self) -> None:
        """Leadership changed: heartbeat within :data:`SOON_S` (one for every change
        meanwhile), not only at the interval (see the module doc)."""
        if self._soon is None and self._task is not None:
            delay = min(SOON_S, self.settings.interval_ms / 1000.0)
            self._soon = asyncio.get_running_loop().call_later(delay, self._soon_due)

    def _soon_due(self) -> None:
        self._soon = None
        self.poke()

    async def close(self) -> None:
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
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

    def _sample(self, now: int) -> tuple[dict[Key, LeaderInfo], dict[Key, LedReplica]]:
        """What we lead, and its info: every led replica when ``replicas`` says so, else
        only those it names (the others have not changed since the last sample: an idle
        broker samples none). Keys whose info changed are noted for the next report."""
        every, replicas = self._replicas()
        old = self._leading
        leading, by_key = ({}, {}) if every else (old, self._by_key)
        changed = self._report.unsent
        for replica in replicas:
            key = replica.key
            info = replica.leader_info(now)
            if info is not None:
                if old.get(key) is not info:
                    changed.add(key)
                by_key[key] = replica
                leading[key] = info
            elif not every and by_key.pop(key, None) is not None:
                del leading[key]
                changed.add(key)
        if every:
            changed.update(old.keys() - leading.keys())
            self._leading, self._by_key = leading, by_key
        return dict(leading), by_key

    async def beat(self) -> None:
        now = self._clock.now_ms()
        leading, by_key = self._sample(now)
        controller = self._store.controller_id
        if controller < 0:
            return
        table = self._table
        report = self._report
        if controller != self._reported_to:
            self._reported_to = controller
            report.forget()  # it holds nothing of ours
            table.forget_copy()
        full, sent = report.take(leading)
        request = self._request(full, sent)
        if controller == self.node_id:
            request.table_epoch, request.table_version = table.epoch, table.version
            response = self.handle(request)
        else:
            try:
                response = await self._send(controller, request)  # type: ignore[misc]
            except LogdError as exc:
                # It may or may not have taken the report: what it carried goes again (not
                # all we lead), and the table changes since the copy we hold (issue 21).
                _log.debug("heartbeat to controller %d: %s", controller, exc)
                report.lost(sent)
                return
            if response.controller_id != controller:  # it no longer leads: no table
                report.forget()
                table.forget_copy()
                return
            self._apply(response)
            if response.led or response.removed:
                self.soon()  # the table is changing: more may follow soon
        report.delivered(full, sent)
        if response.report_full:
            report.forget()
        if report.more:
            self.soon()  # the report was cut at its limit: the rest next
        self._on_down(table.down)
        for move in response.moves:
            moving = by_key.get((move.topic, move.partition))
            if moving is not None:
                moving.transfer(move.to)

    def _request(
        self, full: bool, sent: dict[Key, LeaderInfo | None]
    ) -> cluster_pb2.BrokerHeartbeatRequest:
        """The report ``LeaderReport.take`` gave (``full``: everything, else changes)."""
        request = cluster_pb2.BrokerHeartbeatRequest(
            node_id=self.node_id,
            metadata_offset=self._store.published,
            full=full,
            table_epoch=self._table.known_epoch,
            table_version=self._table.known_version,
            storage=storage_to_proto(self.node_id, self.local_storage()),
        )
        for key, info in sent.items():
            (request.unled if info is None else request.led).append(_led(key, info))
        return request

    def _apply(self, response: cluster_pb2.BrokerHeartbeatResponse) -> None:
        changes: list[tuple[Key, LeaderInfo | None]] = [
            ((p.topic, p.partition), _info(b, p))
            for b, p in zip(response.leader_brokers, response.led, strict=False)
        ]
        changes.extend(((p.topic, p.partition), None) for p in response.removed)
        self._table.apply(
            response.controller_id,
            response.live_brokers,
            response.down_brokers,
            response.metadata_offset,
            response.table_epoch,
            response.table_version,
            full=response.full,
            changes=changes,
            storage={s.node_id: storage_from_proto(s) for s in response.storage},
        )

    # -- the controller leader --------------------------------------------------------

    def handle(
        self, request: cluster_pb2.BrokerHeartbeatRequest
    ) -> cluster_pb2.BrokerHeartbeatResponse:
        """A broker's heartbeat, answered by the controller leader (this broker)."""
        table = self._table
        now = self._clock.now_ms()
        if not self._store.is_leader:
            return cluster_pb2.BrokerHeartbeatResponse(controller_id=self._store.controller_id)
        broker = request.node_id
        report_full = not request.full and not table.holds_report_of(broker)
        alive = self._alive() | {self.node_id}  # this controller is not dead either
        table.report(
            broker,
            [((p.topic, p.partition), _info(broker, p)) for p in request.led],
            now,
            request.metadata_offset,
            full=request.full,
            unled=[(p.topic, p.partition) for p in request.unled],
            storage=storage_from_proto(request.storage) if request.HasField("storage") else None,
            alive=alive,
        )
        self._declare_down(table.declared_down(self._store.broker_ids(), now), alive, now)
        if self.settings.rebalance and now >= self._next_rebalance_ms:
            self._next_rebalance_ms = now + self.settings.rebalance_ms
            self._plan_moves()
        full, changes, version = self._pages.answer(
            table, broker, request.table_epoch, request.table_version
        )
        response = cluster_pb2.BrokerHeartbeatResponse(
            controller_id=self.node_id,
            live_brokers=sorted(table.live),
            metadata_offset=self._store.published,
            full=full,
            table_epoch=table.epoch,
            table_version=version,
            down_brokers=sorted(table.down),
            report_full=report_full,
        )
        for key, info in changes:
            if info is None:
                response.removed.append(_led(key, None))
            else:
                response.leader_brokers.append(info.leader)
                response.led.append(_led(key, info))
        for node_id, storage in sorted(table.storage.items()):
            response.storage.append(storage_to_proto(node_id, storage))
        for topic, partition, to in self._moves.pop(broker, []):
            response.moves.append(cluster_pb2.LeaderMove(topic=topic, partition=partition, to=to))
        return response

    def _declare_down(self, silent: frozenset[int], alive: frozenset[int], now: int) -> None:
        """Declare down the brokers whose heartbeats stopped -- but never this one, nor one
        whose Raft frames keep arriving: a broker busy with thousands of elections (or a
        controller whose own loop was held up) heartbeats late, and declaring it down woke
        every group it is in and restarted the elections (issue 21). Says who and why."""
        table = self._table
        spared = (silent | table.late(now)) & alive
        down = silent - spared
        if down == table.down and spared == self._spared:
            return
        table.down, self._spared = down, spared

        def ages(brokers: frozenset[int]) -> str:
            return ", ".join(
                f"{b} (heartbeat {table.heartbeat_age_ms(b, now)} ms ago)" for b in sorted(brokers)
            )

        _log.info("brokers declared down: %s%s", ages(down) or "none",
                  f"; late but heard over Raft (or this controller), not declared: {ages(spared)}"
                  if spared else "")  # fmt: skip

    def _plan_moves(self) -> None:
        table = self._table
        looked_at = (table.epoch, table.version, table.live, table.full, self._store.published)
        if looked_at == self._balanced_at:
            return  # an idle controller does not walk 10,000 partitions every check
        assignment: dict[Key, tuple[int, ...]] = {}
        leaderless = 0
        for name, record in self._store.topics().items():
            for a in record.partitions:
                if (name, a.partition) in table.partitions:
                    assignment[(name, a.partition)] = a.replicas
                else:
                    leaderless += 1
        if leaderless:
            # Elections are under way (a new topic, a broker lost): moving leaders now
            # would only add elections to them. Rebalance once every partition is led.
            self._moves = {}
            return
        current = {k: v.leader for k, v in table.partitions.items()}
        in_sync = {k: v.isr for k, v in table.partitions.items()}
        # Never towards a broker whose disk is below its reserve: it would step down again.
        moves = preferred_leader_moves(assignment, current, table.live - table.full, in_sync)
        self._moves, later = plan_moves(moves, current)
        self._balanced_at = None if moves else looked_at
        if self._moves:
            rest = f" ({later} more at the next checks)" if later else ""
            _log.info("rebalancing leadership: %d partitions move to their preferred replica%s",
                      len(moves) - later, rest)  # fmt: skip


def plan_moves(
    moves: dict[Key, int], current: dict[Key, int], limit: int = MOVES_PER_CHECK
) -> tuple[dict[int, list[tuple[str, int, int]]], int]:
    """The leadership moves one check hands out, by the broker that leads now (its next
    heartbeat answer carries them), at most ``limit``; and how many wait for later checks."""
    planned: dict[int, list[tuple[str, int, int]]] = {}
    for key, to in list(moves.items())[:limit]:
        planned.setdefault(current[key], []).append((key[0], key[1], to))
    return planned, max(0, len(moves) - limit)


def _info(broker: int, p: cluster_pb2.LedPartition) -> LeaderInfo:
    return LeaderInfo(broker, p.leader_epoch, tuple(p.isr), p.move_bytes_plus_one - 1, p.size_bytes)


def _led(key: Key, info: LeaderInfo | None) -> cluster_pb2.LedPartition:
    if info is None:
        return cluster_pb2.LedPartition(topic=key[0], partition=key[1])
    return cluster_pb2.LedPartition(
        topic=key[0], partition=key[1], leader_epoch=info.epoch, isr=list(info.isr),
        move_bytes_plus_one=info.move_bytes + 1, size_bytes=info.size,
    )  # fmt: skip


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
