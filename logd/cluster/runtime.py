"""The cluster side of one broker, wired: driver, transport, controller, liveness, and the
``Replication`` hooks through which the replica manager gives every hosted partition its
Raft group. A one-node "cluster" runs through exactly the same code (one voter).

Start order (``logd.node``): the data directory's logs are opened; :meth:`ClusterRuntime.open`
starts the controller group over ``__cluster_metadata-0`` and the heartbeat loop; the internal
service's front end starts (peers must reach us to elect anyone; it hands its calls to
:attr:`ClusterRuntime.handler`); :meth:`wait_ready` returns once a controller leader is known
and this broker's image has caught up with it; only then are partitions hosted and is the
broker reported SERVING.

The runtime knows the cluster's settings (``settings.ClusterSettings``), never the broker's
config, and the partitions it replicates only as ``hosted.HostedPartition``.

Controller voters: the first three brokers by id (all, if fewer); the rest are learners, so
every broker applies the same metadata log.

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from logd.clock import Clock
from logd.cluster.controller.store import ControllerStore
from logd.cluster.drainer import Drainer
from logd.cluster.driver import DriverSettings, RaftDriver
from logd.cluster.hardstate import HardStateJournal
from logd.cluster.hosted import HostedPartition, LeadershipAnnouncer
from logd.cluster.internal import ClusterHandler, FaultState
from logd.cluster.isr import IsrTracker
from logd.cluster.joining import Joiner, PeerBook
from logd.cluster.leadership import LeadershipTransfers
from logd.cluster.liveness import Liveness, LivenessSettings
from logd.cluster.mover import PartitionMover
from logd.cluster.partition_log import PartitionLog
from logd.cluster.quorum import QuorumMover
from logd.cluster.raft_state import RaftStateFile
from logd.cluster.replicated import PartitionReplica
from logd.cluster.settings import ClusterSettings
from logd.cluster.table import LeaderTable
from logd.cluster.transport import GrpcTransport, Reporter
from logd.errors import KafkaStorageError
from logd.metadata.cluster_config import move_throttle
from logd.metadata.store import METADATA_TOPIC, PartitionAssignment, leader_hint_for
from logd.metadata.types import BrokerMeta, BrokerStorage, LeaderHint, TopicPartition
from logd.storage import Flusher, Log, LogConfig, LogManager
from logd.v1 import cluster_pb2
from replication import ConfState

__all__ = ["CONTROLLER_VOTERS_MAX", "ClusterRuntime", "initial_conf"]

_log = logging.getLogger(__name__)

CONTROLLER_VOTERS_MAX: Final = 3
#: The controller's snapshot beside its log: ``__cluster_metadata-0/metadata.snapshot``.
SNAPSHOT_FILE: Final = "metadata.snapshot"
#: The metadata log keeps everything (no retention) in segments of this size.
_METADATA_SEGMENT_BYTES: Final = 16 * 1024 * 1024


class ClusterRuntime:
    """Everything replication needs on one broker; see the module doc."""

    def __init__(
        self,
        config: ClusterSettings,
        me: BrokerMeta,
        logs: LogManager,
        flusher: Flusher,
        clock: Clock,
    ) -> None:
        self.config = config
        self.me = me
        self.node_id = config.node_id
        self._logs = logs
        self._clock = clock
        peers = dict(config.peers)
        self.peers = peers
        ids = sorted(peers)
        self.voters = ids[:CONTROLLER_VOTERS_MAX]
        self.learners = ids[CONTROLLER_VOTERS_MAX:]
        self.faults = FaultState()
        self.driver = RaftDriver(
            config.node_id,
            flusher,
            DriverSettings(
                tick_ms=config.raft_tick_ms,
                election_ticks=config.raft_election_ticks,
                heartbeat_ticks=config.raft_heartbeat_ticks,
                async_writes=config.raft_async_writes,
                # Past the session timeout: a dead broker is declared down first.
                unreachable_suspect_s=max(10.0, 2 * config.broker_session_timeout_ms / 1000),
                # A peer heard within the session timeout is alive, whatever else says.
                alive_s=config.broker_session_timeout_ms / 1000,
            ),
            space_full=lambda: logs.space.full,
        )
        self.transport = GrpcTransport(
            config.node_id,
            {n: str(a) for n, a in peers.items()},
            Reporter(
                self.driver.report_unreachable,
                self._report_snapshot,
                reachable=self.driver.peer_reachable,
            ),
            self.faults,
            max_message_bytes=config.max_message_bytes,
            cluster_id=config.cluster_id,
            tls=config.tls,
        )
        self.driver.transport = self.transport
        #: The brokers we have links to: the configured, then those that joined (issue 23).
        self.peer_book = PeerBook(
            config.node_id, {n: str(a) for n, a in peers.items()}, self.transport.add_peer
        )
        self.table = LeaderTable(config.broker_session_timeout_ms)
        self.replicas: dict[TopicPartition, PartitionReplica] = {}
        #: The replicas this broker leads (the heartbeat samples only those), also by
        #: their group's name; and what the heartbeat's last full sample saw.
        self._led: dict[TopicPartition, PartitionReplica] = {}
        self._led_names: dict[str, PartitionReplica] = {}
        self._sampled: tuple[bool, frozenset[int], int] = (False, frozenset(), -1)
        #: The partitions the metadata says move, as of the metadata offset beside them.
        self._moves: tuple[int, list[TopicPartition]] = (-2, [])
        #: Every group's term and vote, one fsync per round (opened by :meth:`open`).
        self.journal: HardStateJournal | None = None
        self.store: ControllerStore | None = None
        self.liveness: Liveness | None = None
        self._relief: asyncio.Task[None] | None = None
        self._announce_leadership: LeadershipAnnouncer | None = None
        self.leadership = LeadershipTransfers(
            config.node_id,
            lambda: self.store,
            self.replicas.get,
            self.transport.transfer_leadership,
            self._hint,
        )
        #: Runs the Raft side of the partition moves led here (issue 23).
        self.mover = PartitionMover(
            self._moving_led,
            lambda: self.store,
            self.driver.touched,
            tick_s=config.raft_tick_ms / 1000,
            cluster_throttle=lambda: move_throttle(
                self.store.cluster_configs() if self.store is not None else {},
                config.partition_move_throttle,
            ),
        )
        self._moving: asyncio.Task[None] | None = None
        #: Starts the moves that drain decommissioned brokers (on the controller leader).
        self.drainer = Drainer(
            lambda: self.store,
            autobalance=config.partition_autobalancing_enable,
            throttle=config.partition_move_throttle,
        )
        self._draining: asyncio.Task[None] | None = None
        #: Changes the controller quorum when the metadata asks (on the controller leader).
        self.quorum = QuorumMover(
            lambda: self.store,
            self.driver.touched,
            linked=lambda: self.transport.peers | {self.node_id},
        )
        self._quorum: asyncio.Task[None] | None = None
        #: What the internal service's front end hands its calls to.
        self.handler = ClusterHandler(
            self.driver.receive,
            self._controller_write,
            self._heartbeat,
            self.leadership.forwarded,
            self.faults,
            fault_injection=config.fault_injection,
            peer_connected=lambda peer: self.driver.report_unreachable(peer, connected=True),
            peer_lost=lambda peer: self.driver.report_unreachable(
                peer, why="its stream to us ended"
            ),
            data_loss=self.driver.data_loss,
            join=self._join,
        )
        self._peers_task: asyncio.Task[None] | None = None
        self._joining: asyncio.Task[None] | None = None

    def _report_snapshot(self, group: str, peer: int, success: bool) -> None:
        self.driver.report_snapshot(group, peer, success=success)

    # -- start / stop -------------------------------------------------------------------

    async def open(self) -> ControllerStore:
        """Start the controller group (the logs are open) and the heartbeat loop."""
        log = await asyncio.to_thread(self._metadata_log)
        self.journal = await asyncio.to_thread(HardStateJournal, self._logs.data_dir)
        storage = PartitionLog(
            log,
            RaftStateFile(log.directory, self.journal),
            self._clock,
            initial_conf=self._metadata_conf(),
            snapshot_file=Path(log.directory) / SNAPSHOT_FILE,
        )
        store = ControllerStore(
            self.driver,
            storage,
            me=self.me,
            peers=self.peers,
            table=self.table,
            clock=self._clock,
            forward=self.transport.controller_write,
            snapshot_every=self.config.metadata_snapshot_interval,
            reopen=self._reopen_metadata,
        )
        store.local = self._local_view
        self.store = store
        #: The metadata log was created now (a new broker, or one that lost it).
        self.metadata_fresh = storage.fresh
        store.start(campaign=self.voters == [self.node_id] and not self.config.join)
        self.driver.start()
        self.liveness = Liveness(
            self.node_id,
            store,
            self.table,
            self._led_to_sample,
            self.transport.heartbeat,
            self._clock,
            LivenessSettings(
                self.config.broker_heartbeat_interval_ms,
                self.config.broker_session_timeout_ms,
                self.config.leader_imbalance_check_interval_ms,
                rebalance=self.config.auto_leader_rebalance_enable,
            ),
            on_down=self.driver.set_down,
            alive=self.driver.alive,
        )
        self.liveness.start()
        store.propagating = self.liveness.poke
        self._relief = asyncio.get_running_loop().create_task(
            self._relieve_forever(), name="space-relief"
        )
        self._moving = asyncio.get_running_loop().create_task(
            self.mover.run_forever(), name="partition-mover"
        )
        self._draining = asyncio.get_running_loop().create_task(
            self.drainer.run_forever(), name="broker-drainer"
        )
        self._quorum = asyncio.get_running_loop().create_task(
            self.quorum.run_forever(), name="controller-quorum"
        )
        self._peers_task = asyncio.get_running_loop().create_task(
            self._sync_peers_forever(), name="peer-book"
        )
        if self.config.join:
            joiner = Joiner(
                cluster_pb2.JoinRequest(node_id=self.node_id, host=self.me.host, port=self.me.port),
                self.peers,
                self.transport.join,
                lambda: store.ready,
            )
            self._joining = asyncio.get_running_loop().create_task(joiner.run(), name="join")
        return store

    def _metadata_conf(self) -> ConfState:
        """The metadata group's configuration before its log says one: the first three
        peers vote; a joining broker (``--join``) knows none -- it learns the group's from
        its leader and never campaigns (``logd.cluster.joining``)."""
        return ConfState() if self.config.join else ConfState.of(self.voters, self.learners)

    async def _sync_peers_forever(self, interval_s: float = 0.5) -> None:
        """Links to the brokers the metadata registers (a broker that joined: issue 23)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.store is not None:
                self.peer_book.sync(self.store.brokers())

    async def _join(self, request: object) -> None:
        """A joining broker asks us (``ClusterInternal.Join``): register its address."""
        if self.store is None:
            raise KafkaStorageError("the broker is starting")
        r: Any = request
        await self.store.register_joining(r.node_id, r.host, r.port)

    async def _relieve_forever(self) -> None:
        """While this broker's disk is below its reserve, every heartbeat interval: hand
        each partition it leads to an in-sync replica with space (a refused write does the
        same at once; this catches partitions nobody writes to, and failed transfers)."""
        interval = self.config.broker_heartbeat_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            if self._logs.space.full:
                for replica in list(self.replicas.values()):
                    replica.step_down_for_space()

    async def _reopen_metadata(self, old: PartitionLog) -> PartitionLog:
        """The metadata log afresh from its files after a failed fsync (``Reopen``)."""
        log = await asyncio.to_thread(self._logs.reopen, METADATA_TOPIC, 0, to_recovery_point=True)
        return PartitionLog(
            log,
            old.state_file,
            self._clock,
            initial_conf=self._metadata_conf(),
            snapshot_file=old.snapshot_file,
        )

    def _metadata_log(self) -> Log:
        config = LogConfig.from_strings(
            {"retention.ms": "-1", "retention.bytes": "-1",
             "segment.bytes": str(_METADATA_SEGMENT_BYTES)}
        )  # fmt: skip
        return self._logs.create(METADATA_TOPIC, 0, config, exist_ok=True)

    async def wait_ready(self, poll_s: float = 0.02) -> None:
        """Until the controller is known and our image has caught up with it."""
        assert self.store is not None and self.liveness is not None
        while not self.store.ready:
            self.liveness.poke()
            await asyncio.sleep(poll_s)

    async def settle(self, partitions: list[HostedPartition], timeout_s: float = 10.0) -> None:
        """Until every hosted partition that has no other replica leads and has committed
        what its log held (a restarted single node then serves at once, as it did before
        replication); partitions with peers follow their elections in their own time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        alone = [p for p in partitions if p.assignment.replicas == (self.node_id,)]
        targets = {p.tp: p.log_end_offset for p in alone}
        while loop.time() < deadline:
            if all(p.is_leader and p.high_watermark >= targets[p.tp] for p in alone):
                return
            await asyncio.sleep(0.005)
        _log.warning("some partitions did not settle within %.0f s", timeout_s)

    async def close(self) -> None:
        tasks = (self._relief, self._moving, self._draining, self._quorum, self._peers_task,
                 self._joining)  # fmt: skip
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.mover.close()
        if self.liveness is not None:
            await self.liveness.close()
        if self.store is not None:
            await self.store.close()
        await self.driver.close()
        await self.transport.close()
        if self.journal is not None:
            self.journal.close()

    # -- the internal service's callbacks ------------------------------------------------

    async def _controller_write(self, request: object) -> object:
        if self.store is None:
            raise KafkaStorageError("the broker is starting")
        return await self.store.execute_forwarded(request)  # type: ignore[arg-type]

    async def _heartbeat(self, request: object) -> object:
        if self.liveness is None:
            raise KafkaStorageError("the broker is starting")
        return self.liveness.handle(request)  # type: ignore[arg-type]

    # -- Replication (the replica manager's hooks) ---------------------------------------

    def bind(self, announce: LeadershipAnnouncer) -> None:
        """Who hears of every leadership change (the broker's replica manager)."""
        self._announce_leadership = announce

    def replicator(
        self, tp: TopicPartition, log: Log, assignment: PartitionAssignment
    ) -> PartitionReplica:
        conf = initial_conf(assignment, self.node_id)
        storage = PartitionLog(
            log,
            RaftStateFile(Path(log.directory), self.journal, incarnation=self._incarnation(tp)),
            self._clock,
            initial_conf=conf,
        )
        campaign = storage.fresh and bool(conf.voters) and assignment.replicas[0] == self.node_id
        if conf.voters == {self.node_id}:
            campaign = True  # the only voter: no reason to wait an election timeout
        replica = PartitionReplica(
            self.driver,
            storage,
            hint_for=self._hint,
            announce=self._announce,
            isr=IsrTracker(assignment.replicas, self.node_id, self.config.replica_lag_time_max_ms),
            clock=self._clock,
            initial_conf=conf,
            full_brokers=lambda: self.table.full,
            reopen=self._reopen,
            leading=self._leading,
        )
        replica.campaign_at_start = campaign
        self.replicas[tp] = replica
        return replica

    def _reopen(self, log: Log) -> Log:
        """An offline partition log, opened afresh (a worker thread calls this)."""
        topic, _, partition = log.name.rpartition("-")
        return self._logs.reopen(topic, int(partition), to_recovery_point=True)

    def set_local_storage(self, report: Callable[[], BrokerStorage]) -> None:
        """How this broker's disk is reported (heartbeats, ``store.brokers()``)."""
        assert self.store is not None and self.liveness is not None
        self.store.state.local_storage = report
        self.liveness.local_storage = report

    def _incarnation(self, tp: TopicPartition) -> int | None:
        """This life of the partition: from its topic's id (a topic created again under
        the same name has another), so the hard-state journal never mixes two lives."""
        record = self.store.topics().get(tp.topic) if self.store is not None else None
        if record is None or not record.topic_id:
            return None
        digest = hashlib.blake2b(record.topic_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1

    def hosted(self, partition: HostedPartition) -> None:
        replica = self.replicas[partition.tp]
        replica.start(partition, campaign=replica.campaign_at_start)
        if len(partition.assignment.replicas) > 1:
            # Damage that crash recovery cannot see (a flipped bit in a sealed segment)
            # is found by reading the log once; another replica then repairs it.
            replica.scrub()

    def _leading(self, replica: PartitionReplica, leading: bool) -> None:
        tp = TopicPartition(*replica.key)
        self._sampled = (False, frozenset(), -1)  # the next heartbeat samples them all
        if leading:
            self._led[tp] = replica
            self._led_names[replica.name] = replica
            # A new leader of a moving partition throttles its joining learners now,
            # before its probes find where their logs end (not at the mover's next round).
            self.mover.throttle(replica)
        else:
            self._led.pop(tp, None)
            self._led_names.pop(replica.name, None)
        if self.liveness is not None:
            self.liveness.soon()  # the controller hears it a tenth of a second later

    def _led_to_sample(self) -> tuple[bool, list[PartitionReplica]]:
        """The led replicas the heartbeat samples: all of them after a change of what is
        led, of the peers taken as down or of the metadata (a move); else those whose
        group woke or went quiet since (the driver's ``take_active``). Sampling every led
        replica every heartbeat was most of an idle broker's work (issue 21)."""
        active = self.driver.take_active()
        now = (True, self.driver.down, self.store.published if self.store is not None else -1)
        if now != self._sampled:
            self._sampled = now
            return True, list(self._led.values())
        led = self._led_names
        return False, [led[g.name] for g in active if g.name in led]

    def _moving_led(self) -> list[PartitionReplica]:
        """The replicas led here whose partition moves: all the mover's rounds (ten a
        second) need. Stepping every led replica instead was a third of an idle broker's
        CPU at 10,000 partitions (issue 21); the moving ones are found again only when the
        published metadata changed."""
        store = self.store
        if store is None:
            return []
        if self._moves[0] != store.published:
            topics = store.topics().values()
            moving = [TopicPartition(t.name, a.partition)
                      for t in topics for a in t.partitions if a.moving]  # fmt: skip
            self._moves = (store.published, moving)
        led = self._led
        return [led[tp] for tp in self._moves[1] if tp in led]

    def unhosted(self, tp: TopicPartition) -> None:
        replica = self.replicas.pop(tp, None)
        if replica is not None:
            replica.stop()

    def _announce(self, partition: HostedPartition) -> None:
        if self._announce_leadership is not None:
            self._announce_leadership(partition)

    def _hint(self, leader: int, epoch: int) -> LeaderHint:
        if leader < 0 or self.store is None:
            return LeaderHint(leader_epoch=epoch)
        assignment = PartitionAssignment(0, (leader,), leader, epoch, ())
        return leader_hint_for(self.store.brokers(), assignment)

    def _local_view(
        self, topic: str, partition: int
    ) -> tuple[int | None, int, tuple[int, ...]] | None:
        replica = self.replicas.get(TopicPartition(topic, partition))
        return replica.local_view() if replica is not None else None


def initial_conf(assignment: PartitionAssignment, node_id: int) -> ConfState:
    """The Raft configuration a replica starts from when its log is new.

    A replica joining by a move (issue 23) knows no configuration: it is not a voter, so it
    never campaigns, and learns the group's configuration from its leader (the CONF_CHANGE
    entry that adds it as a learner). The others start from the replicas before the move.
    """
    if node_id in assignment.adding:
        return ConfState()
    joining = set(assignment.adding)
    return ConfState.of(tuple(r for r in assignment.replicas if r not in joining))
