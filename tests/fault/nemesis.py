"""The nemesis: one fault at a time, on a seeded schedule, then heal.

Fault kinds:

* ``kill`` -- SIGKILL a broker (no flush, no clean-shutdown marker; the page cache
  survives, as when a process dies on a machine that stays up), restart it after the hold;
* ``kill-leader`` -- SIGKILL the broker that leads a workload partition (drawn with the
  schedule) when the fault starts -- the drawn broker when no leader is known -- and
  restart it after the hold: the clients must follow the leadership to a new broker;
* ``pause`` -- SIGSTOP a broker for the hold, then SIGCONT (a GC pause, a stalled VM: its
  peers and clients time out, then it wakes up believing it still leads);
* ``partition`` -- cut a broker off from its peers through the broker-to-broker fault hook
  (issue 5's ``InjectFault``: ``--enable-fault-injection``, loopback only), all of them or
  one direction only, then clear it. Needs a cluster (N > 1) and the hook in this build;
* ``transfer`` -- move the leadership of some partitions to the target broker through the
  admin API (``Admin.transfer_leadership``, as an operator would), a partition of the
  workload's topic and, every other time, the ``__consumer_offsets`` partition of the
  workload's group (its coordinator moves; the group must carry on from its commits).
  When the target already leads one, the next replica gets it; when it is not a replica
  (more brokers than replicas), a replica chosen by its id does. A refused transfer (the
  target not in sync yet, the transfer abandoned) is an outcome, not a failure of the run:
  the counts are in the summary. Needs N > 1;
* ``disk`` -- SIGKILL a broker, damage the files of one workload partition it holds (the
  one drawn, or another drawn at the time when it holds no replica of that one; cut its
  active segment, flip a bit in a sealed segment, or delete an index:
  ``tests.fault.disk``), restart it: it must find the damage, get what it lost back from
  the leader, and never serve bad data. Needs N > 1 (one replica cannot be repaired);
* ``disk-full`` -- fill the target broker's filesystem (each broker has its own small one:
  ``RunConfig.disk_bytes``) below its free-space reserve with a ballast file, then delete
  it (issue 24): the broker refuses writes, hands its leaderships to replicas with space and
  holds back as a follower; the others keep acknowledging; with space back it catches up by
  itself. Needs N > 1 (one broker with a full disk acknowledges nothing until healed);
* ``slow-disk`` -- every fsync of the target broker sleeps ``fsync_delay_ms`` first
  (``InjectFault``) for the hold, then not. Needs N > 1 (the fault hook);
* ``kill-syncing`` -- as ``slow-disk``, then SIGKILL the broker while its fsyncs are still
  slow and restart it (issue 22): with several Readys in flight per Raft group
  (asynchronous storage writes) it dies between writes and their fsyncs' completion, as
  a leader and as a follower; nothing acknowledged may be lost and the replicas must
  agree. Needs N > 1 (the fault hook);
* ``move`` -- move a workload partition's replicas (issue 23, ``Admin.move_partition``):
  off the target broker when it holds one (to the lowest-id broker that does not), onto it
  otherwise; nothing to heal (the move runs on through the next faults). A refused move
  (one in progress already) is counted. Needs more brokers than replicas to do anything;
* ``decommission`` -- decommission the target broker (its replicas drain to the others),
  and recommission it when healing (the drain moves still running go back). Refused
  (counted) when the others could not hold the replication factor.

:func:`schedule` is pure: the same seed gives the same faults, printed before the run so a
failing seed is replayed with ``--fault-seed``. How long a fault lasts is measured in the
workload's progress (produce calls invoked meanwhile), not in seconds.

Owned by the harness's thread.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import importlib.util
import math
import os
import random
from pathlib import Path
from typing import Protocol

from logd.client import Admin
from logd.errors import LogdError
from tests.fault.disk import (
    cut_active_segment,
    delete_index,
    flip_sealed_segment,
    partition_dir,
    segments,
)
from tests.integration.cluster import Cluster
from tests.integration.small_disk import fill

__all__ = [
    "OFFSETS_TOPIC",
    "AdminLeadershipHook",
    "FaultKind",
    "FaultSpec",
    "GrpcFaultHook",
    "LeadershipHook",
    "Nemesis",
    "NetworkHook",
    "Targets",
    "available_kinds",
    "schedule",
]

OFFSETS_TOPIC = "__consumer_offsets"
#: How a ``disk`` fault damages a partition's files.
DAMAGES = ("cut", "flip", "delete-index")


class FaultKind(enum.Enum):
    KILL = "kill"
    KILL_LEADER = "kill-leader"
    PAUSE = "pause"
    PARTITION = "partition"
    TRANSFER = "transfer"
    DISK = "disk"
    DISK_FULL = "disk-full"
    SLOW_DISK = "slow-disk"
    KILL_SYNCING = "kill-syncing"
    MOVE = "move"
    DECOMMISSION = "decommission"


#: Kinds that need more than one broker.
_CLUSTER_KINDS = frozenset({
    FaultKind.KILL_LEADER, FaultKind.PARTITION, FaultKind.TRANSFER, FaultKind.DISK,
    FaultKind.DISK_FULL, FaultKind.SLOW_DISK, FaultKind.KILL_SYNCING, FaultKind.MOVE,
    FaultKind.DECOMMISSION,
})  # fmt: skip
#: Kinds that need the broker-to-broker fault hook.
_HOOK_KINDS = frozenset({FaultKind.PARTITION, FaultKind.SLOW_DISK, FaultKind.KILL_SYNCING})
#: How slow a ``slow-disk`` fault makes each fsync, ms (drawn per fault).
FSYNC_DELAYS_MS = (20, 300)


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    kind: FaultKind
    #: The broker the fault hits.
    target: int
    #: Produce calls the workload invokes while the fault lasts.
    hold: int
    #: For a partition: the peers cut off, and whether only the target's sends are dropped.
    peers: tuple[int, ...] = ()
    one_way: bool = False
    #: For a transfer: the partitions whose leadership moves to the target; for a
    #: kill-leader: the partition whose leader dies.
    moves: tuple[tuple[str, int], ...] = ()
    #: For a disk fault: the partition damaged and how (one of DAMAGES).
    damaged: tuple[str, int] = ("", -1)
    damage: str = ""
    #: Drawn with the schedule: what picks the damaged byte.
    seed: int = 0
    #: For a slow disk: how long each fsync sleeps first.
    fsync_delay_ms: int = 0

    def __str__(self) -> str:
        where = f"broker {self.target}"
        if self.kind is FaultKind.PARTITION:
            arrow = "->" if self.one_way else "<->"
            where += f" {arrow} {','.join(map(str, self.peers))}"
        elif self.kind is FaultKind.TRANSFER:
            where = " ".join(f"{t}-{p}" for t, p in self.moves) + f" to broker {self.target}"
        elif self.kind is FaultKind.MOVE:
            where = " ".join(f"{t}-{p}" for t, p in self.moves) + f" off/onto broker {self.target}"
        elif self.kind is FaultKind.KILL_LEADER:
            where = f"of {self.moves[0][0]}-{self.moves[0][1]} (else broker {self.target})"
        elif self.kind is FaultKind.DISK:
            where += f" ({self.damage} {self.damaged[0]}-{self.damaged[1]})"
        elif self.kind in (FaultKind.SLOW_DISK, FaultKind.KILL_SYNCING):
            where += f" ({self.fsync_delay_ms} ms a fsync)"
        return f"{self.kind.value} {where} for {self.hold} ops"


def hook_in_build() -> bool:
    """Whether this build has the broker-to-broker service and its fault hook (issue 5)."""
    return importlib.util.find_spec("logd.v1.cluster_pb2") is not None


def available_kinds(nodes: int, wanted: tuple[str, ...]) -> tuple[FaultKind, ...]:
    """The kinds of ``wanted`` that this cluster can suffer."""
    kinds = []
    for name in wanted:
        kind = FaultKind(name)
        if kind in _CLUSTER_KINDS and nodes < 2:
            continue
        if kind in _HOOK_KINDS and not hook_in_build():
            continue
        kinds.append(kind)
    assert kinds, f"no fault kind of {wanted} applies to {nodes} node(s)"
    return tuple(kinds)


@dataclasses.dataclass(frozen=True)
class Targets:
    """What the faults can hit besides brokers: the workload's partitions, and the
    ``__consumer_offsets`` partition of its group (its coordinator)."""

    topic: str = "fault"
    partitions: int = 4
    coordinator: int = 0


def schedule(
    seed: int,
    count: int,
    kinds: tuple[FaultKind, ...],
    nodes: int,
    hold: tuple[int, int],
    targets: Targets | None = None,
) -> list[FaultSpec]:
    """``count`` faults drawn from ``seed``: kind, target, hold (produce calls, drawn
    log-uniformly from ``hold``), and what a kind needs besides."""
    rng = random.Random(seed)
    where = targets or Targets()
    faults = []
    for _ in range(count):
        kind = rng.choice(kinds)
        target = rng.randrange(nodes)
        # Log-uniform: mostly short faults, some longer than the clients' timeouts.
        ops = round(math.exp(rng.uniform(math.log(hold[0]), math.log(hold[1]))))
        if kind is FaultKind.PARTITION:
            others = [n for n in range(nodes) if n != target]
            cut = tuple(sorted(rng.sample(others, rng.randint(1, len(others)))))
            faults.append(FaultSpec(kind, target, ops, cut, one_way=rng.random() < 0.25))
        elif kind is FaultKind.MOVE:
            moves = [(where.topic, rng.randrange(where.partitions))]
            faults.append(FaultSpec(kind, target, ops, moves=tuple(moves)))
        elif kind is FaultKind.TRANSFER:
            moves = [(where.topic, rng.randrange(where.partitions))]
            if rng.random() < 0.5:
                moves.append((OFFSETS_TOPIC, where.coordinator))
            faults.append(FaultSpec(kind, target, ops, moves=tuple(moves)))
        elif kind is FaultKind.KILL_LEADER:
            moves = ((where.topic, rng.randrange(where.partitions)),)
            faults.append(FaultSpec(kind, target, ops, moves=moves))
        elif kind is FaultKind.DISK:
            damaged = (where.topic, rng.randrange(where.partitions))
            damage = rng.choice(DAMAGES)
            faults.append(FaultSpec(kind, target, ops, damaged=damaged, damage=damage,
                                    seed=rng.randrange(2**32)))  # fmt: skip
        elif kind in (FaultKind.SLOW_DISK, FaultKind.KILL_SYNCING):
            delay = rng.randint(*FSYNC_DELAYS_MS)
            faults.append(FaultSpec(kind, target, ops, fsync_delay_ms=delay))
        else:
            faults.append(FaultSpec(kind, target, ops))
    return faults


class NetworkHook(Protocol):
    """Blocks broker-to-broker traffic (issue 5's fault hook)."""

    def block(self, node: int, *, to: tuple[int, ...], from_: tuple[int, ...]) -> None: ...

    def clear(self, node: int) -> None: ...


class GrpcFaultHook:
    """The ``ClusterInternal.InjectFault`` RPC of brokers started with
    ``--enable-fault-injection``. Imports the generated module lazily: it exists only in
    builds with the cluster (:func:`hook_in_build`)."""

    def __init__(self, cluster: Cluster, timeout_s: float = 10.0) -> None:
        self._cluster = cluster
        self._timeout_s = timeout_s

    def _call(self, node: int, **fields: object) -> None:
        from logd.v1 import cluster_pb2, cluster_pb2_grpc  # type: ignore[attr-defined]

        broker = self._cluster[node]
        stub = cluster_pb2_grpc.ClusterInternalStub(broker.channel())
        stub.InjectFault(
            cluster_pb2.FaultRequest(**fields),
            timeout=self._timeout_s,
            metadata=broker.internal_metadata(),
        )

    def block(self, node: int, *, to: tuple[int, ...], from_: tuple[int, ...]) -> None:
        self._call(node, block_to=list(to), block_from=list(from_), clear=True)

    def clear(self, node: int) -> None:
        self._call(node, clear=True)

    def slow_fsync(self, node: int, delay_ms: int) -> None:
        self._call(node, fsync_delay_ms=delay_ms)


class LeadershipHook(Protocol):
    """Moves a partition's leadership; returns what happened, one word (for the counts)."""

    def transfer(self, topic: str, partition: int, to: int) -> str: ...

    def move(self, topic: str, partition: int, broker: int) -> str: ...

    def decommission(self, broker: int) -> str: ...

    def recommission(self, broker: int) -> str: ...

    def leader(self, topic: str, partition: int) -> int | None:
        """The broker leading the partition now, None when unknown."""
        ...


class AdminLeadershipHook:
    """``Admin.transfer_leadership``, as an operator runs it (``logd topic
    transfer-leadership``). Outcomes: ``moved``; ``refused:<ERROR>`` for a typed refusal
    (the target not in sync yet after the last fault, the transfer abandoned, ...)."""

    def __init__(self, admin: Admin) -> None:
        self._admin = admin

    def leader(self, topic: str, partition: int) -> int | None:
        try:
            (described,) = self._admin.describe_topics([topic])
        except LogdError:
            return None
        leader = described.partitions[partition].leader
        return leader if leader >= 0 else None

    def transfer(self, topic: str, partition: int, to: int) -> str:
        try:
            (described,) = self._admin.describe_topics([topic])
            replicas = list(described.partitions[partition].replicas)
            if to not in replicas:  # more brokers than replicas: one of them, by the target
                to = replicas[to % len(replicas)]
            if described.partitions[partition].leader == to:  # it leads already: the next
                to = replicas[(replicas.index(to) + 1) % len(replicas)]
            self._admin.transfer_leadership(topic, partition, to, timeout_ms=5_000)
        except LogdError as exc:
            return f"refused:{exc.code.name}"
        return "moved"

    def move(self, topic: str, partition: int, broker: int) -> str:
        """Move ``topic-partition`` off ``broker`` (to the lowest-id broker not holding it)
        when it holds a replica, onto it (in place of the first replica) otherwise."""
        try:
            (described,) = self._admin.describe_topics([topic])
            replicas = list(described.partitions[partition].replicas)
            brokers = sorted(b.node_id for b in self._admin.describe_cluster().brokers)
            spare = [b for b in brokers if b not in replicas]
            if not spare:
                return "nothing:no spare broker"
            if broker in replicas:
                target = [spare[0] if r == broker else r for r in replicas]
            else:
                target = [broker, *replicas[1:]]
            self._admin.move_partition(topic, partition, target)
        except LogdError as exc:
            return f"refused:{exc.code.name}"
        return "started"

    def decommission(self, broker: int) -> str:
        try:
            self._admin.decommission_broker(broker)
        except LogdError as exc:
            return f"refused:{exc.code.name}"
        return "started"

    def recommission(self, broker: int) -> str:
        try:
            self._admin.recommission_broker(broker)
        except LogdError as exc:
            return f"refused:{exc.code.name}"
        return "done"


class Nemesis:
    """Injects and heals the faults of a schedule on a running cluster. ``outcomes``
    counts what the transfers and disk faults did."""

    def __init__(
        self,
        cluster: Cluster,
        hook: NetworkHook | None = None,
        leadership: LeadershipHook | None = None,
    ) -> None:
        self._cluster = cluster
        self._hook = hook
        self._leadership = leadership
        self.outcomes: collections.Counter[str] = collections.Counter()
        #: The broker a kill-leader fault killed (healed by restarting it).
        self._killed = -1
        self._ballast: Path | None = None

    def inject(self, fault: FaultSpec) -> None:
        broker = self._cluster[fault.target]
        if fault.kind is FaultKind.KILL_LEADER:
            assert self._leadership is not None, "kill-leader needs the admin hook"
            leader = self._leadership.leader(*fault.moves[0])
            self.outcomes["kill-leader " + ("leader" if leader is not None else "unknown")] += 1
            self._killed = fault.target if leader is None else leader
            self._cluster[self._killed].kill()
        elif fault.kind in (FaultKind.KILL, FaultKind.DISK):
            broker.kill()
            if fault.kind is FaultKind.DISK:
                self.outcomes[self._damage(fault)] += 1
        elif fault.kind is FaultKind.PAUSE:
            broker.pause()
        elif fault.kind is FaultKind.DISK_FULL:
            self._ballast = _fill_below_reserve(broker.data_dir)
            self.outcomes["disk-full filled"] += 1
        elif fault.kind in (FaultKind.SLOW_DISK, FaultKind.KILL_SYNCING):
            assert isinstance(self._hook, GrpcFaultHook), "a slow disk needs the fault hook"
            self._hook.slow_fsync(fault.target, fault.fsync_delay_ms)
        elif fault.kind is FaultKind.MOVE:
            assert self._leadership is not None, "a move needs the admin hook"
            for topic, partition in fault.moves:
                self.outcomes[f"move {self._leadership.move(topic, partition, fault.target)}"] += 1
        elif fault.kind is FaultKind.DECOMMISSION:
            assert self._leadership is not None, "a decommission needs the admin hook"
            self.outcomes[f"decommission {self._leadership.decommission(fault.target)}"] += 1
        elif fault.kind is FaultKind.TRANSFER:
            assert self._leadership is not None, "a transfer needs the admin hook"
            for topic, partition in fault.moves:
                what = "coordinator" if topic == OFFSETS_TOPIC else "partition"
                outcome = self._leadership.transfer(topic, partition, fault.target)
                self.outcomes[f"transfer {what} {outcome}"] += 1
        else:
            assert self._hook is not None, "a partition needs the fault hook"
            from_ = () if fault.one_way else fault.peers
            self._hook.block(fault.target, to=fault.peers, from_=from_)

    def _damage(self, fault: FaultSpec) -> str:
        """Damage the stopped broker's copy of a partition; what was done, for the counts
        (a damage that does not apply -- no sealed segment yet, say -- becomes a cut)."""
        rng = random.Random(fault.seed)
        directory = _hosted(self._cluster[fault.target].data_dir, *fault.damaged, rng)
        logs = segments(directory) if directory is not None else []
        if directory is None or not logs or logs[-1].stat().st_size <= 1:
            return "disk: nothing to damage"
        if fault.damage == "flip" and len(logs) > 1:
            done = flip_sealed_segment(directory, rng)
        elif fault.damage == "delete-index" and any(directory.glob("*.index")):
            done = delete_index(directory, rng)
        else:
            done = cut_active_segment(directory, rng)
        print(f"  damaged broker {fault.target}: {done}", flush=True)
        return f"disk {done.kind}"

    def heal(self, fault: FaultSpec) -> None:
        broker = self._cluster[fault.target]
        if fault.kind is FaultKind.KILL_LEADER:
            self._cluster[self._killed].start()
        elif fault.kind in (FaultKind.KILL, FaultKind.DISK):
            broker.start()
        elif fault.kind is FaultKind.PAUSE:
            broker.resume()
        elif fault.kind is FaultKind.PARTITION:
            assert self._hook is not None
            self._hook.clear(fault.target)
        elif fault.kind is FaultKind.DISK_FULL and self._ballast is not None:
            self._ballast.unlink()
            self._ballast = None
        elif fault.kind is FaultKind.SLOW_DISK:
            assert isinstance(self._hook, GrpcFaultHook)
            self._hook.slow_fsync(fault.target, 0)
        elif fault.kind is FaultKind.KILL_SYNCING:
            broker.kill()  # its fsyncs still slow: Readys written, their fsyncs not done
            broker.start()  # (a new process: the delay is gone)
        elif fault.kind is FaultKind.DECOMMISSION:
            assert self._leadership is not None
            self.outcomes[f"recommission {self._leadership.recommission(fault.target)}"] += 1


def _fill_below_reserve(data_dir: Path) -> Path:
    """A ballast file leaving half the broker's default reserve (5 % of its filesystem)
    free; the disk must be the broker's own (``RunConfig.disk_bytes``)."""
    st = os.statvfs(data_dir)
    total = st.f_blocks * st.f_frsize
    assert total < 1 << 32, f"{data_dir} is not a small filesystem of its own ({total} B)"
    return fill(data_dir, total * 5 // 100 // 2, name="fault-ballast")


def _hosted(data_dir: Path, topic: str, partition: int, rng: random.Random) -> Path | None:
    """The directory of ``topic-partition`` on this broker, or -- when it holds no replica
    of it (5 brokers, 3 replicas) -- of another partition of ``topic`` that it holds, drawn
    with ``rng``; None when it holds none."""
    directory = partition_dir(data_dir, topic, partition)
    if directory.is_dir():
        return directory
    held = sorted(
        d for d in data_dir.glob(f"{topic}-*")
        if d.is_dir() and d.name[len(topic) + 1 :].isdigit()
    )  # fmt: skip
    return rng.choice(held) if held else None
