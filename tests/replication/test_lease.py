"""The follower's lease on its leader's broker (``Config.vouched_lease``, issue 21): while
the driver vouches for the leader's broker, a follower neither campaigns nor grants
pre-votes -- for at most ``vouched_lease`` election timeouts without its group's own
heartbeat. The simulator checks it under faults (tests/replication/sim)."""

from __future__ import annotations

from typing import Any

from replication import Role, VoteRequest, VoteResponse
from tests.replication.cluster import Cluster

E = 6  # election ticks
LEASED: dict[str, Any] = {"election_ticks": E, "heartbeat_ticks": 2, "vouched_lease": 4}


def led_by_1(**settings: Any) -> Cluster:
    """Three nodes, 1 leading, everything delivered; then 1 goes silent in this group."""
    c = Cluster()
    c.add_nodes([1, 2, 3], [1, 2, 3], **{**LEASED, **settings})
    c.elect(1)
    c.stabilize()
    c.isolated.add(1)
    return c


def ticks_until_it_campaigns(c: Cluster, node: int, vouched: frozenset[int]) -> int:
    """Tick ``node`` (the driver vouching for ``vouched`` before every tick, as logd's
    does) until it stands for election; how many ticks that took."""
    raw = c.raw(node)
    for ticks in range(1, 20 * E):
        raw.heard_from(vouched)
        raw.tick()
        if raw.role is not Role.FOLLOWER:
            return ticks
    raise AssertionError(f"node {node} never campaigned")


def test_a_follower_whose_leaders_broker_is_heard_waits_out_the_lease_then_campaigns() -> None:
    c = led_by_1()
    ticks = ticks_until_it_campaigns(c, 2, frozenset({1, 3}))
    # Its own timeout is [E, 2E); the lease adds (4 - 1) election timeouts, no more.
    assert 4 * E <= ticks < 5 * E
    assert c.raw(2).role is Role.PRE_CANDIDATE


def test_without_the_brokers_word_a_follower_campaigns_after_its_plain_timeout() -> None:
    c = led_by_1()
    assert E <= ticks_until_it_campaigns(c, 2, frozenset({3})) < 2 * E


def test_a_leader_the_failure_detector_calls_down_gets_no_lease_from_heard_frames() -> None:
    c = led_by_1()
    c.raw(2).set_down_peers(frozenset({1}))
    assert E <= ticks_until_it_campaigns(c, 2, frozenset({1, 3})) < 2 * E


def test_losing_the_connection_to_the_leader_gives_up_the_lease() -> None:
    c = led_by_1()
    raw = c.raw(2)
    for _ in range(E):
        raw.heard_from(frozenset({1, 3}))
        raw.tick()
    raw.report_unreachable(1)  # the stream to its leader broke (the broker died)
    raw.tick()  # the driver's next tick: 1 is taken as down, no longer vouched for
    assert ticks_until_it_campaigns(c, 2, frozenset({3})) < 2 * E


def pre_vote_answer(c: Cluster, voter: int, *, vouched: frozenset[int], ticks: int) -> bool:
    """Node 3 asks ``voter`` for a pre-vote after ``voter`` ticked ``ticks`` times without
    its leader's heartbeat: was it granted?"""
    raw = c.raw(voter)
    for _ in range(ticks):
        raw.heard_from(vouched)
        raw.tick()
    candidate = c.raw(3)
    status = candidate.status()
    raw.step(VoteRequest(status.term + 1, 3, voter, candidate.last_offset,
                         status.last_term, True, False))  # fmt: skip
    c.handle_ready(voter)
    answers = [m for m in c.outbox if isinstance(m, VoteResponse) and m.dst == 3]
    c.outbox.clear()
    return any(m.granted for m in answers)


def test_a_follower_whose_leaders_broker_is_heard_grants_no_pre_vote_within_the_lease() -> None:
    assert not pre_vote_answer(led_by_1(), 2, vouched=frozenset({1, 3}), ticks=2 * E)
    assert not pre_vote_answer(led_by_1(), 2, vouched=frozenset({1, 3}), ticks=4 * E - 1)


def test_past_the_lease_or_without_the_brokers_word_a_follower_grants_the_pre_vote() -> None:
    assert pre_vote_answer(led_by_1(), 2, vouched=frozenset({1, 3}), ticks=4 * E)
    assert pre_vote_answer(led_by_1(), 2, vouched=frozenset({3}), ticks=E)


def test_the_lease_is_off_by_default() -> None:
    c = led_by_1(vouched_lease=0)
    assert E <= ticks_until_it_campaigns(c, 2, frozenset({1, 3})) < 2 * E
