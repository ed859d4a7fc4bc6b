"""A seed's scenario: cluster shape, Raft settings, fault rates, all drawn from the seed.

The seed alone decides everything, so ``run_seed(seed)`` replays a run exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from replication import Config

__all__ = ["FAULTS", "Scenario"]

# Every fault the nemesis knows, with its weight when the scenario enables it.
FAULTS: dict[str, int] = {
    "partition": 3,  # split the nodes in two groups, links cut both ways
    "isolate": 3,  # cut one node (usually the leader) from all others
    "one-way": 2,  # cut some links in one direction only
    "heal": 4,  # restore every link
    "crash": 4,  # power loss: unsynced writes lost, the last maybe torn; restart later
    "net-rates": 2,  # change drop, duplicate and delay rates
    "clock-skew": 2,  # a node's clock runs slow (ticks skipped)
    "slow-disk": 1,  # fsync takes several ticks (a crash may fall in between)
    "transfer": 2,  # ask the leader to hand leadership to another voter
    "add-learner": 3,  # membership: a new (or returning) node joins as learner
    "promote": 2,  # membership: a caught-up learner becomes voter
    "remove": 2,  # membership: a voter or learner leaves (maybe the leader)
    "joint": 2,  # membership: joint consensus (promote + remove, or demote)
    "compact": 2,  # snapshot + compaction (controller) or retention (partition)
    "throttle": 2,  # the leader throttles (or stops throttling) a learner (a move's catch-up)
    "move": 2,  # a partition move (issue 23): the leader walks to a new voter set by the plan
}


@dataclass
class Scenario:
    seed: int
    controller_mode: bool
    voters: list[int]
    spares: list[int]
    raft_config: Config
    chaos_ticks: int
    drop_rate: float
    dup_rate: float
    max_delay: int
    disk_delay_max: int
    fault_rate: float
    propose_rate: float
    faults: dict[str, int] = field(default_factory=dict)
    #: The failure detector (``detector.py``): None = off; else what it sees.
    detector: str | None = None
    detect_rate: float = 1.0
    false_alarm_rate: float = 0.0
    #: Proposals come in bursts separated by idle stretches (quiet groups meet faults).
    idle_rate: float = 0.0
    #: A link cut makes the sender's transport report the peer unreachable (lost contact).
    report_unreachable: bool = False
    #: The driver sends what may leave at once while a Ready is being persisted.
    early_messages: bool = False
    #: The driver vouches for the brokers it hears (``RawNode.heard_from``: followers' lease
    #: on their leader's broker, ``Config.vouched_lease``): None = it does not; else how
    #: many ticks a broker stays vouched for after its last frame (logd: ``alive_s``).
    vouch_lag: int | None = None

    @classmethod
    def generate(cls, seed: int, rng: random.Random) -> Scenario:
        size = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 10, 2, 5])[0]
        voters = list(range(1, size + 1))
        spares = list(range(size + 1, size + 1 + rng.choice([0, 1, 1, 2, 2])))
        election = rng.randint(4, 10)
        pre_vote = rng.random() < 0.8
        cfg = Config(
            node_id=0,
            election_ticks=election,
            heartbeat_ticks=rng.randint(1, max(1, election // 3)),
            pre_vote=pre_vote,
            check_quorum=rng.random() < (0.8 if pre_vote else 0.5),
            max_append_bytes=rng.choice([8, 64, 1 << 20]),
            max_append_entries=rng.choice([1, 2, 4, 64]),
            max_inflight_appends=rng.choice([1, 2, 4, 16]),
            max_inflight_bytes=rng.choice([0, 0, 32]),
            max_apply_bytes=rng.choice([16, 1 << 20]),
            apply_entries=True,
        )
        controller = rng.random() < 0.5
        quiesce = rng.random() < 0.5
        cfg = replace(
            cfg,
            apply_entries=controller,
            quiesce=quiesce,
            election_backoff=rng.choice([0, 3, 3]),
            group_salt=rng.getrandbits(32),
        )
        enabled = [f for f in FAULTS if rng.random() < 0.7]
        detector = None
        if quiesce or rng.random() < 0.3:
            detector = rng.choice(["crashes", "crashes", "links"])
        scenario = cls(
            seed=seed,
            controller_mode=controller,
            voters=voters,
            spares=spares,
            raft_config=cfg,
            chaos_ticks=rng.randint(60, 200),
            drop_rate=rng.choice([0.0, 0.02, 0.1, 0.3]),
            dup_rate=rng.choice([0.0, 0.02, 0.1]),
            max_delay=rng.choice([0, 1, 2, 4]),
            disk_delay_max=rng.choice([0, 0, 1, 3]),
            fault_rate=rng.choice([0.02, 0.05, 0.1]),
            propose_rate=rng.choice([0.2, 0.5, 0.9]),
            faults={f: FAULTS[f] for f in enabled},
            detector=detector,
            detect_rate=rng.choice([0.05, 0.3, 1.0]),
            false_alarm_rate=rng.choice([0.0, 0.0, 0.01]),
            idle_rate=rng.choice([0.0, 0.05, 0.1]) if quiesce else 0.0,
            report_unreachable=rng.random() < 0.5,
            early_messages=rng.random() < 0.5,
        )
        # From its own stream: the simulation's draws (each seed's run) stay what they were.
        wait = random.Random(f"vote_wait {seed}").choice([0, 0, 2])
        scenario.raft_config = replace(scenario.raft_config, vote_wait=wait)
        # Asynchronous storage writes (several Readys in flight, issue 22), half the seeds,
        # always with persistence delayed by a few ticks so that Readys really overlap.
        own = random.Random(f"async_writes {seed}")
        if own.random() < 0.5:
            scenario.raft_config = replace(scenario.raft_config, async_writes=True)
            scenario.disk_delay_max = max(scenario.disk_delay_max, own.choice([1, 3, 5]))
        # The lease on the leader's broker (issue 21), half the seeds: brokers vouched for
        # a while after their last frame, and groups that hang while their broker lives.
        lease = random.Random(f"vouched_lease {seed}")
        if lease.random() < 0.5:
            scenario.raft_config = replace(scenario.raft_config,
                                           vouched_lease=lease.choice([2, 4, 4]))  # fmt: skip
            scenario.vouch_lag = lease.choice([0, 1, election, 3 * election, 8 * election])
            if lease.random() < 0.7:
                scenario.faults["hang"] = FAULTS["crash"]
        return scenario

    def describe(self) -> str:
        cfg = self.raft_config
        return (
            f"seed={self.seed} mode={'controller' if self.controller_mode else 'partition'} "
            f"voters={self.voters} spares={self.spares} election={cfg.election_ticks} "
            f"heartbeat={cfg.heartbeat_ticks} pre_vote={cfg.pre_vote} "
            f"async_writes={cfg.async_writes} "
            f"check_quorum={cfg.check_quorum} quiesce={cfg.quiesce} "
            f"backoff={cfg.election_backoff} vote_wait={cfg.vote_wait} "
            f"detector={self.detector}/{self.detect_rate}/"
            f"{self.false_alarm_rate} idle={self.idle_rate} "
            f"unreachable={self.report_unreachable} early={self.early_messages} "
            f"lease={cfg.vouched_lease}/{self.vouch_lag} "
            f"inflight={cfg.max_inflight_appends} "
            f"batch={cfg.max_append_entries}/{cfg.max_append_bytes}B chaos={self.chaos_ticks} "
            f"drop={self.drop_rate} dup={self.dup_rate} delay<={self.max_delay} "
            f"disk<={self.disk_delay_max} faults={sorted(self.faults)}"
        )
