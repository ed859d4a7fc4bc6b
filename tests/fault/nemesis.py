"""The nemesis: one fault at a time, on a seeded schedule, then heal.

Fault kinds:

* ``kill`` -- SIGKILL a broker (no flush, no clean-shutdown marker; the page cache
  survives, as when a process dies on a machine that stays up), restart it after the hold;
* ``pause`` -- SIGSTOP a broker for the hold, then SIGCONT (a GC pause, a stalled VM: its
  peers and clients time out, then it wakes up believing it still leads);
* ``partition`` -- cut a broker off from its peers through the broker-to-broker fault hook
  (issue 5's ``InjectFault``: ``--enable-fault-injection``, loopback only), all of them or
  one direction only, then clear it. Needs a cluster (N > 1) and the hook in this build.

Leadership transfer is not a kind yet: no RPC asks a broker to hand over a partition
(issue 5 moves leaders only by the controller's rebalancing).

:func:`schedule` is pure: the same seed gives the same faults, printed before the run so a
failing seed is replayed with ``--fault-seed``. How long a fault lasts is measured in the
workload's progress (produce calls invoked meanwhile), not in seconds.

Owned by the harness's thread.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import math
import random
from typing import Protocol

from tests.integration.cluster import Cluster

__all__ = [
    "FaultKind",
    "FaultSpec",
    "GrpcFaultHook",
    "Nemesis",
    "NetworkHook",
    "available_kinds",
    "schedule",
]


class FaultKind(enum.Enum):
    KILL = "kill"
    PAUSE = "pause"
    PARTITION = "partition"


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

    def __str__(self) -> str:
        where = f"broker {self.target}"
        if self.kind is FaultKind.PARTITION:
            arrow = "->" if self.one_way else "<->"
            where += f" {arrow} {','.join(map(str, self.peers))}"
        return f"{self.kind.value} {where} for {self.hold} ops"


def hook_in_build() -> bool:
    """Whether this build has the broker-to-broker service and its fault hook (issue 5)."""
    return importlib.util.find_spec("logd.v1.cluster_pb2") is not None


def available_kinds(nodes: int, wanted: tuple[str, ...]) -> tuple[FaultKind, ...]:
    """The kinds of ``wanted`` that this cluster can suffer."""
    kinds = []
    for name in wanted:
        kind = FaultKind(name)
        if kind is FaultKind.PARTITION and (nodes < 2 or not hook_in_build()):
            continue
        kinds.append(kind)
    assert kinds, f"no fault kind of {wanted} applies to {nodes} node(s)"
    return tuple(kinds)


def schedule(
    seed: int, count: int, kinds: tuple[FaultKind, ...], nodes: int, hold: tuple[int, int]
) -> list[FaultSpec]:
    """``count`` faults drawn from ``seed``: kind, target, hold (produce calls, drawn
    log-uniformly from ``hold``)."""
    rng = random.Random(seed)
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

        stub = cluster_pb2_grpc.ClusterInternalStub(self._cluster[node].channel())
        stub.InjectFault(cluster_pb2.FaultRequest(**fields), timeout=self._timeout_s)

    def block(self, node: int, *, to: tuple[int, ...], from_: tuple[int, ...]) -> None:
        self._call(node, block_to=list(to), block_from=list(from_), clear=True)

    def clear(self, node: int) -> None:
        self._call(node, clear=True)


class Nemesis:
    """Injects and heals the faults of a schedule on a running cluster."""

    def __init__(self, cluster: Cluster, hook: NetworkHook | None = None) -> None:
        self._cluster = cluster
        self._hook = hook

    def inject(self, fault: FaultSpec) -> None:
        broker = self._cluster[fault.target]
        if fault.kind is FaultKind.KILL:
            broker.kill()
        elif fault.kind is FaultKind.PAUSE:
            broker.pause()
        else:
            assert self._hook is not None, "a partition needs the fault hook"
            from_ = () if fault.one_way else fault.peers
            self._hook.block(fault.target, to=fault.peers, from_=from_)

    def heal(self, fault: FaultSpec) -> None:
        broker = self._cluster[fault.target]
        if fault.kind is FaultKind.KILL:
            broker.start()
        elif fault.kind is FaultKind.PAUSE:
            broker.resume()
        else:
            assert self._hook is not None
            self._hook.clear(fault.target)
