"""A fault run end to end: real brokers, the workload, the nemesis, final reads, the checker.

:func:`run` starts ``nodes`` broker processes on loopback (``tests/integration/cluster.py``;
N > 1 needs replication, issue 5), creates the topics, starts the workload, and lets the
nemesis inject each fault of its seeded schedule in turn: inject, hold (while the workload
invokes some produce calls), heal, then *settle* -- wait, with a deadline, until every
broker runs, ``cluster health`` says healthy and the workload has had more values
acknowledged; a cluster that does not come back is a failure of the run.

At the end the workload stops (every produce gets its outcome), the group's committed
offsets are read, every partition is read through a consumer (replica ``fetch``), the
brokers are stopped cleanly (exit 0 expected) and every replica's files are read
(replica ``broker-N``, :func:`tests.fault.disk.read_replica`). The checker then judges the
history; duplicates count as anomalies only when the producer was idempotent (every
stored batch carries a producer id -- issue 7 turns it on by default).

The history goes to ``<root>/history.jsonl`` and each broker's output stays in its run
directory, so a failed seed can be studied and re-checked.

Owned by one test's thread; the workload runs its own threads.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from cli.cluster.health import assess
from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, TopicPartition
from logd.errors import LogdError
from logd.groups.partition import offsets_partition_for
from tests.fault.checker import CheckResult, check
from tests.fault.disk import ReplicaLog, partition_dir, read_replica
from tests.fault.history import History, Kind, Op, Outcome
from tests.fault.nemesis import (
    AdminLeadershipHook,
    FaultSpec,
    GrpcFaultHook,
    Nemesis,
    Targets,
    available_kinds,
    hook_in_build,
    schedule,
)
from tests.fault.workload import (
    CANARY_MAX_BYTES,
    Progress,
    Workload,
    WorkloadConfig,
    final_partitions,
)
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.small_disk import small_disk

__all__ = ["BROKER_CONFIG", "RunConfig", "RunResult", "run"]

#: Quick rebalances, short sessions allowed (as tests/integration/group_support.py);
#: several Readys in flight per Raft group (issue 22: off by default, its faults run here).
BROKER_CONFIG = """
"group.initial.rebalance.delay.ms" = 0
"group.min.session.timeout.ms" = 500
"offsets.topic.num.partitions" = 4
"log.cleaner.backoff.ms" = 200
"raft.async.writes" = true
"""
#: The compacted topic: small segments and an eager cleaner, so runs clean often.
COMPACTED_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
}
#: As BROKER_CONFIG says: where the workload group's coordinator lives follows from it.
OFFSETS_PARTITIONS = 4
#: The topic of ``RunConfig.idle_partitions``.
IDLE_TOPIC = "fault-idle"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    nodes: int = 1
    faults: int = 20
    seed: int = 0
    kinds: tuple[str, ...] = ("kill", "pause", "partition", "transfer", "disk")
    #: A fault lasts while the workload invokes this many produce calls (drawn per fault).
    hold: tuple[int, int] = (20, 2_500)
    #: After healing: values acknowledged before the next fault (liveness).
    settle_acks: int = 60
    settle_timeout_s: float = 60.0
    #: Small segments, so runs roll some and the disk faults have sealed ones to hit.
    segment_bytes: int = 64 * 1024
    #: Each broker on a tmpfs of this size of its own (0: the test's directory); the
    #: ``disk-full`` kind needs it (it fills the target's filesystem).
    disk_bytes: int = 0
    workload: WorkloadConfig = dataclasses.field(default_factory=WorkloadConfig)
    #: Partitions of a topic nobody writes to (issue 21): their Raft groups go quiet, and
    #: every settle waits until each of them is led and in sync again after the fault.
    idle_partitions: int = 0


@dataclasses.dataclass
class RunResult:
    config: RunConfig
    faults: list[FaultSpec]
    history: History
    check: CheckResult
    #: What went wrong beside the history: a cluster that did not settle, a worker that
    #: died, a broker that did not stop cleanly or logged a traceback.
    problems: list[str]
    seconds: float
    #: Every stored batch carries a producer id: duplicates are anomalies.
    idempotent: bool
    #: What the transfers and disk faults did (``Nemesis.outcomes``).
    outcomes: dict[str, int] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        c = self.config
        by_kind = collections.Counter(f.kind.value for f in self.faults)
        kinds = ", ".join(f"{by_kind[k]} {k}" for k in sorted(by_kind))
        producer = "idempotent" if self.idempotent else "not idempotent"
        head = (
            f"fault run: {c.nodes} node(s), seed {c.seed}, {len(self.faults)} faults ({kinds}) "
            f"in {self.seconds:.0f} s; producers {producer}"
        )
        done = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        problems = [f"problem: {p}" for p in self.problems] or ["problems: none"]
        return "\n".join([head, f"nemesis: {done or 'nothing else'}", self.check.summary(),
                          *problems])  # fmt: skip

    def assert_ok(self) -> None:
        assert self.check.valid and not self.problems, "fault run failed:\n" + self.summary()


def run(root: Path, config: RunConfig) -> RunResult:
    """One fault run under ``root`` (see the module doc)."""
    started = time.monotonic()
    kinds = available_kinds(config.nodes, config.kinds)
    w = config.workload
    targets = Targets(w.topic, w.partitions, offsets_partition_for(w.group, OFFSETS_PARTITIONS))
    faults = schedule(config.seed, config.faults, kinds, config.nodes, config.hold, targets)
    print(f"fault schedule (seed {config.seed}): " + "; ".join(map(str, faults)), flush=True)
    cluster = _cluster(root, config)
    with contextlib.ExitStack() as disks:
        for broker in cluster if config.disk_bytes else ():
            disks.enter_context(small_disk(broker.data_dir, config.disk_bytes))
        return _run(root, config, started, faults, cluster)


def _run(
    root: Path, config: RunConfig, started: float, faults: list[FaultSpec], cluster: Cluster
) -> RunResult:
    history = History(time.monotonic)
    problems: list[str] = []
    replicas: list[ReplicaLog] = []
    outcomes: dict[str, int] = {}
    try:
        cluster.start()
        if config.idle_partitions:
            _create_idle(cluster.bootstrap, config)
        with Admin(brokers=cluster.bootstrap, request_timeout_ms=10_000) as admin:
            _create_topics(admin, config)
            kafka = config.workload.client == "kafka"
            brokers = _kafka_bootstrap(cluster) if kafka else cluster.bootstrap
            workload = Workload(brokers, history, config.workload)
            workload.start()
            try:
                problems += _drive(cluster, admin, workload.progress, faults, config, outcomes)
            finally:
                problems += workload.stop()
            history.close()
            problems += _final(_read_committed, admin, history, config.workload)
        problems += _final(_read_through_consumer, cluster.bootstrap, history, config.workload)
        problems += _stop(cluster)
        replicas = _read_replicas(cluster, history, config.workload)
    finally:
        cluster.close()
        root.mkdir(parents=True, exist_ok=True)
        (root / "history.jsonl").write_text(history.to_jsonl())
    idempotent = bool(replicas) and all(r.producer_ids for r in replicas if r.records)
    compacted = [config.workload.compacted_topic] if config.workload.compacted_every else []
    result = check(history, duplicates_allowed=not idempotent, compacted=compacted)
    seconds = time.monotonic() - started
    return RunResult(config, faults, history, result, problems, seconds, idempotent, outcomes)


def _cluster(root: Path, config: RunConfig) -> Cluster:
    root.mkdir(parents=True, exist_ok=True)
    config_file = root / "broker.toml"
    config_file.write_text(BROKER_CONFIG)
    args = ["--config", str(config_file)]
    if config.nodes > 1 and hook_in_build():
        args.append("--enable-fault-injection")
    return Cluster(root / "cluster", config.nodes, extra_args=args)


def _kafka_bootstrap(cluster: Cluster) -> str:
    """Every broker's Kafka listener (the Kafka-client workload's bootstrap servers)."""
    return ",".join(b.bound()["kafka"] for b in cluster)


def _create_topics(admin: Admin, config: RunConfig) -> None:
    w = config.workload
    replication = min(3, config.nodes)
    segment = {"segment.bytes": str(config.segment_bytes)}
    admin.create_topics([
        NewTopic(w.topic, w.partitions, replication, segment),
        NewTopic(w.canary_topic, 1, replication, {"max.message.bytes": str(CANARY_MAX_BYTES)}),
        *([NewTopic(w.compacted_topic, 1, replication, COMPACTED_CONFIGS)]
          if w.compacted_every else []),
    ])  # fmt: skip


def _create_idle(bootstrap: str, config: RunConfig) -> None:
    """The idle topic: thousands of partitions take a while to create (and elect)."""
    timeout_ms = 30_000 + 20 * config.idle_partitions
    with Admin(brokers=bootstrap, request_timeout_ms=timeout_ms) as admin:
        admin.create_topics([NewTopic(IDLE_TOPIC, config.idle_partitions, min(3, config.nodes))])


def _drive(
    cluster: Cluster,
    admin: Admin,
    progress: Progress,
    faults: list[FaultSpec],
    config: RunConfig,
    outcomes: dict[str, int],
) -> list[str]:
    """The nemesis loop: settle, inject, hold, heal -- one fault at a time. What the
    nemesis did lands in ``outcomes``."""
    hook = GrpcFaultHook(cluster) if config.nodes > 1 and hook_in_build() else None
    nemesis = Nemesis(cluster, hook, AdminLeadershipHook(admin))
    try:
        return _faults(cluster, admin, progress, faults, config, nemesis)
    finally:
        outcomes.update(nemesis.outcomes)


def _faults(
    cluster: Cluster,
    admin: Admin,
    progress: Progress,
    faults: list[FaultSpec],
    config: RunConfig,
    nemesis: Nemesis,
) -> list[str]:
    why = _settle(cluster, admin, progress, config)
    if why:
        return [f"never healthy before the first fault: {why}"]
    start = time.monotonic()
    for i, fault in enumerate(faults, 1):
        injected = time.monotonic() - start
        nemesis.inject(fault)
        until = progress.invoked + fault.hold

        def over(until: int = until) -> bool:
            return progress.invoked >= until

        try:
            held = _wait(over, config.settle_timeout_s)
        finally:
            healed = time.monotonic() - start
            nemesis.heal(fault)  # always: the final reads need a whole cluster
        if not held:
            return [f"fault {i} ({fault}): the workload stopped invoking during the fault"]
        why = _settle(cluster, admin, progress, config)
        if why:
            return [f"fault {i} ({fault}): not settled after {config.settle_timeout_s} s: {why}"]
        settled = time.monotonic() - start
        print(f"fault {i}/{len(faults)} at {injected:.1f}-{healed:.1f} s: {fault}; "
              f"settled at {settled:.1f} s, {progress.acked} acked", flush=True)  # fmt: skip
    return []


def _settle(cluster: Cluster, admin: Admin, progress: Progress, config: RunConfig) -> str:
    """'' once every broker runs, the cluster is healthy, the produce calls made so far have
    their outcomes (about: the counts are compared) and more values were acknowledged --
    so the next fault meets a recovered cluster; else (after the deadline) what was still
    missing."""
    target = progress.acked + config.settle_acks
    invoked = progress.invoked
    state = {"why": ""}

    def settled() -> bool:
        down = [b.node_id for b in cluster if not b.running]
        if down:
            state["why"] = f"brokers {down} not running"
            return False
        try:
            health = assess(admin)
        except LogdError as exc:
            state["why"] = f"cluster health: {exc}"
            return False
        if not health.healthy:
            state["why"] = f"unhealthy: {health}"
            return False
        state["why"] = (f"{progress.acked} of {target} values acknowledged, "
                        f"{progress.completed} of {invoked} produce calls answered")  # fmt: skip
        return progress.acked >= target and progress.completed >= invoked

    # Describing thousands of partitions is not free: look less often when there are.
    interval = 0.05 if config.idle_partitions < 100 else 0.5
    return "" if _wait(settled, config.settle_timeout_s, interval=interval) else state["why"]


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass (a deadline, never a sleep
    standing in for a condition)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _final(read: Callable[..., None], *args: object) -> list[str]:
    """A final read; its failure is a problem of the run (reported with the summary)."""
    try:
        read(*args)
    except LogdError as exc:
        return [f"{read.__name__.strip('_')} failed: {exc}"]
    return []


def _read_committed(admin: Admin, history: History, w: WorkloadConfig) -> None:
    invoke = history.now()
    (group,) = admin.describe_groups([w.group])
    complete = history.now()
    for p in group.partitions:
        history.add(Op("final", Kind.COMMITTED, invoke, complete, Outcome.OK, group=w.group,
                       topic=p.topic, partition=p.partition,
                       offset=p.committed_offset))  # fmt: skip


def _read_through_consumer(brokers: str, history: History, w: WorkloadConfig) -> None:
    """Every partition from its start to its high watermark, as a consumer reads it."""
    tps = final_partitions(w)
    invoke = history.now()
    with Consumer(brokers=brokers, request_timeout_ms=10_000, retry_backoff_ms=50) as consumer:
        highs = {tp: consumer.get_watermark_offsets(TopicPartition(*tp), 30)[1] for tp in tps}
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tps])
        seen: dict[tuple[str, int], list[tuple[int, bytes]]] = {tp: [] for tp in tps}

        def done() -> bool:
            for r in consumer.consume(10_000, 0.2):
                seen[(r.topic, r.partition)].append((r.offset, r.value or b""))
            positions = consumer.position([TopicPartition(*tp) for tp in tps])
            return all(p.offset >= highs[(p.topic, p.partition)] for p in positions)

        complete_all = _wait(done, 60.0, interval=0)
    complete = history.now()
    outcome = Outcome.OK if complete_all else Outcome.FAILED
    error = "" if complete_all else "not read to the high watermark within 60 s"
    for tp in tps:
        history.add(Op("final", Kind.FINAL_READ, invoke, complete, outcome, topic=tp[0],
                       partition=tp[1], replica="fetch", records=tuple(seen[tp]),
                       offset=highs[tp], error=error))  # fmt: skip


def _stop(cluster: Cluster) -> list[str]:
    problems = []
    for broker in cluster:
        code = broker.stop() if broker.running else None
        if code not in (0, None):
            problems.append(f"broker {broker.node_id} exited {code} on SIGTERM")
        if code is None:
            problems.append(f"broker {broker.node_id} was not running at the end")
        problems += _tracebacks(broker)
    return problems


def _tracebacks(broker: BrokerProcess) -> list[str]:
    text = broker.stderr_text()
    count = text.count("Traceback (most recent call last)")
    if not count:
        return []
    at = text.index("Traceback (most recent call last)")
    return [f"broker {broker.node_id} logged {count} traceback(s), first: {text[at : at + 600]}"]


def _read_replicas(cluster: Cluster, history: History, w: WorkloadConfig) -> list[ReplicaLog]:
    """Each replica's log from its files (the brokers are stopped)."""
    logs = []
    tps = final_partitions(w)
    for broker in cluster:
        for topic, partition in tps:
            directory = partition_dir(broker.data_dir, topic, partition)
            if not directory.is_dir():
                continue  # not a replica of this partition
            invoke = history.now()
            replica = read_replica(directory)
            if topic == w.topic:
                logs.append(replica)
            outcome = Outcome.FAILED if replica.error else Outcome.OK
            history.add(Op("final", Kind.FINAL_READ, invoke, history.now(), outcome, topic=topic,
                           partition=partition, replica=f"broker-{broker.node_id}",
                           records=tuple(replica.records), offset=replica.end,
                           error=replica.error))  # fmt: skip
    return logs
