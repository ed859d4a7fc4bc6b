"""The seeded cluster simulator: 1,000 seeds by default, as many as asked under soak.

A failing seed's message holds the scenario, the last events and the command that
replays it (``python -m tests.replication.sim --seed N --trace``).  The mutation tests
below break the core on purpose and check that the simulator notices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from replication import AppendResponse, Message, quiesce
from replication.log import RaftLog
from replication.raft import Raft
from replication.types import Entry
from replication.unstable import Unstable
from tests.replication.sim.simulator import SimulationFailure, Simulator, run_seed
from tests.replication.sim.summary import Summary

DEFAULT_SEEDS = 1000
CHUNK = 100  # seeds per test, so that xdist spreads them over its workers


def _run(seeds: range) -> Summary:
    summary = Summary()
    failures = []
    for seed in seeds:
        try:
            summary.add(run_seed(seed))
        except SimulationFailure as failure:
            summary.fail(seed)
            failures.append(str(failure))
    assert not failures, "\n\n".join(failures[:3])
    return summary


@pytest.mark.simulation
@pytest.mark.parametrize("start", range(0, DEFAULT_SEEDS, CHUNK))
def test_seeds(start: int) -> None:
    summary = _run(range(start, start + CHUNK))
    # Each chunk must actually exercise the cluster, not pass vacuously -- quiet groups
    # included (about 0.7 faults a seed hit a quiet node in 1,000 seeds).
    assert summary.committed > 10 * CHUNK
    assert sum(summary.faults.values()) > CHUNK
    assert summary.quiet_faults > CHUNK // 5


@pytest.mark.simulation
def test_a_seed_replays_exactly() -> None:
    def events(seed: int) -> list[tuple[object, ...]]:
        sim = Simulator(seed)
        sim.events = type(sim.events)(maxlen=None)
        sim.run()
        return list(sim.events)

    # (Seed 7 idles more since quiet leaders sleep through late answers: 492 events, was
    # 1,060. Seed 0 is busy with or without that: 3,197.)
    first, second = events(0), events(0)
    assert first == second
    assert len(first) > 1000
    assert events(1) != first


@pytest.mark.soak
@pytest.mark.timeout(0)  # hours for 100,000 seeds; pyproject's 300 s would cut it short
def test_soak(request: pytest.FixtureRequest) -> None:
    """``make soak SEEDS=N SEED_START=S``: seeds S .. S+N-1 and a one-line summary."""
    count = request.config.getoption("--seeds") or 200
    start = request.config.getoption("--seed-start")
    began = time.process_time()
    summary = Summary()
    failures = []
    for seed in range(start, start + count):
        try:
            summary.add(run_seed(seed))
        except SimulationFailure as failure:
            summary.fail(seed)
            failures.append(str(failure))
            print(failure, flush=True)
        if summary.seeds % 10_000 == 0:
            rate = summary.seeds / max(time.process_time() - began, 1e-9)
            print(f"\n... {summary.seeds} seeds, {rate:.0f}/s, {summary.violations} violations")
    elapsed = time.process_time() - began
    print(f"\nraft simulator: {summary.line()} cpu_seconds={elapsed:.0f}", flush=True)
    assert not failures, "\n\n".join(failures[:3])


# -- the simulator notices broken cores ----------------------------------------------


@contextmanager
def _patched(cls: type, name: str, replacement: Callable[..., object]) -> Iterator[None]:
    original = getattr(cls, name)
    setattr(cls, name, replacement)
    try:
        yield
    finally:
        setattr(cls, name, original)


def _first_failure(seeds: int = 100, *, start: int = 0) -> str:
    for seed in range(start, start + seeds):
        try:
            run_seed(seed)
        except SimulationFailure as failure:
            return str(failure)
    raise AssertionError(f"the simulator found nothing in {seeds} seeds")


@pytest.mark.simulation
def test_simulator_catches_acknowledging_before_persisting() -> None:
    def ack_at_once(self: Raft, leader: int, match: int) -> None:
        self.msgs.append(AppendResponse(self.term, self.id, leader, match))

    with _patched(Raft, "_ack", ack_at_once):
        assert "acknowledges" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_voting_before_persisting() -> None:
    original = Raft._handle_vote

    def vote_at_once(self: Raft, m: Message) -> None:
        before = len(self.msgs_after_persist)
        original(self, m)  # type: ignore[arg-type]
        self.msgs.extend(self.msgs_after_persist[before:])
        del self.msgs_after_persist[before:]

    with _patched(Raft, "_handle_vote", vote_at_once):
        assert "vote that is not durable" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_votes_for_outdated_logs() -> None:
    # Raft §5.4.1: without the up-to-date check, a leader can lack committed entries.
    with _patched(RaftLog, "is_up_to_date", lambda self, offset, term: True):
        assert "leader completeness" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_appends_without_the_prev_check() -> None:
    original = RaftLog.maybe_append

    def trusting(
        self: RaftLog, prev_offset: int, prev_term: int, commit: int, entries: list[Entry]
    ) -> int | None:
        held = self.term_at(prev_offset)
        return original(self, prev_offset, prev_term if held is None else held, commit, entries)

    with _patched(RaftLog, "maybe_append", trusting):
        assert "log matching" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_quiet_followers_deaf_to_the_failure_detector() -> None:
    # A quiet follower never times out: only the detector's word gets a new leader elected.
    with _patched(Raft, "set_down_peers", lambda self, peers: setattr(self, "down_peers", peers)):
        assert "agreed on no leader" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_followers_quieted_by_a_dead_leader() -> None:
    # A quiesce heartbeat still on its way when the leader died must not silence the
    # follower the detector has just woken: nothing would wake it again.
    def trusting(raft: Raft, commit: int) -> bool:
        log = raft.log
        return raft.cfg.quiesce and log.commit == commit == log.last_offset()

    # (Seeds 185 and 289 show it since pre-candidates ask a voter that ignored them again,
    # which ended some of the stalls it made; a change to the core's messages moves them.)
    with _patched(quiesce, "follower_may_quiesce", trusting):  # type: ignore[arg-type]
        assert "agreed on no leader" in _first_failure(120, start=180)


@pytest.mark.simulation
def test_simulator_catches_counting_written_entries_as_persisted() -> None:
    # Asynchronous storage writes (issue 22): with several Readys in flight, the storage's
    # word for one Ready must not count the entries of the later ones, written but not yet
    # durable (etcd's MsgStorageAppendResp carries the last entry it persisted).
    def eager(self: Unstable, offset: int, term: int) -> None:
        if self.in_progress:
            last = self.entries[self.in_progress - 1]
            del self.entries[: self.in_progress]
            self.offset = last.last_offset + 1
            self.in_progress = 0

    with _patched(Unstable, "stable_to", eager):
        assert "durable only on" in _first_failure()


@pytest.mark.simulation
def test_simulator_catches_a_lease_on_the_leaders_broker_that_never_ends() -> None:
    # Issue 21: a follower keeps its leader while the leader's broker is heard -- for at
    # most ``vouched_lease`` election timeouts: a group that stopped on a live broker
    # (``SimNode.hang``) must still be replaced.
    original = Raft._lease_extension

    def unbounded(self: Raft) -> int:
        return 1 << 30 if original(self) else 0

    with _patched(Raft, "_lease_extension", unbounded):
        assert "agreed on no leader" in _first_failure(20)
