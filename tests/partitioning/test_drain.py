"""Where a decommissioned broker's replicas go (``partitioning.drain``): pure, no I/O."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning.drain import drain_targets, short_of_brokers


def test_the_staying_replicas_lead_and_the_least_loaded_brokers_take_the_rest() -> None:
    placements = [(3, 0, 1), (0, 1, 2), (1, 3, 2), (3, 2, 0)]
    plan = drain_targets(placements, {3}, [0, 1, 2, 4], placements, limit=10)
    # Partition 1 holds no draining replica; each move keeps the others first (one of them
    # is the preferred leader: leadership leaves broker 3 before its data does).
    assert [i for i, _ in plan] == [0, 2, 3]
    assert all(3 not in target and len(target) == 3 for _, target in plan)
    assert [target[:2] for _, target in plan] == [(0, 1), (1, 2), (2, 0)]
    # Broker 4 holds nothing: it takes the first; then the loads even out.
    assert plan[0][1][2] == 4


def test_a_drained_replica_goes_to_a_rack_the_partition_does_not_use() -> None:
    racks = {0: "a", 1: "a", 2: "b", 3: "b", 4: "c"}
    # 3 drains from (0, 3): 1 and 2 hold as much, but 1 is on rack a with 0.
    plan = drain_targets([(0, 3)], {3}, [0, 1, 2], [(0, 3), (1, 2), (1, 2)], 5, racks)
    assert plan == [(0, (0, 2))]
    # Without racks the least loaded broker (1) wins; with them, rack b's 2, though fuller.
    assert drain_targets([(0, 3)], {3}, [0, 1, 2], [(0, 3), (2, 4)], 5) == [(0, (0, 1))]
    plan = drain_targets([(0, 3)], {3}, [0, 1, 2], [(0, 3), (2, 4)], 5, racks)
    assert plan == [(0, (0, 2))]


def test_the_limit_and_a_lack_of_brokers_hold_moves_back() -> None:
    placements = [(0, 1, 2), (0, 1, 2)]
    assert drain_targets(placements, {0}, [1, 2], placements, limit=5) == []  # nowhere to go
    assert len(drain_targets(placements, {0}, [1, 2, 3], placements, limit=1)) == 1
    assert short_of_brokers(placements, 0, [1, 2]) == [3]
    assert short_of_brokers(placements, 0, [1, 2, 3]) == []
    assert short_of_brokers([(1, 2)], 0, [1]) == []  # not hosted on 0


@settings(max_examples=200)
@given(
    st.integers(4, 9).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True).map(tuple),
                max_size=30,
            ),
            st.sets(st.integers(0, n - 1), min_size=1, max_size=2),
        )
    )
)
def test_a_drain_keeps_every_factor_and_never_lands_on_a_draining_broker(
    case: tuple[int, list[tuple[int, ...]], set[int]],
) -> None:
    n, placements, draining = case
    eligible = [b for b in range(n) if b not in draining]
    plan = drain_targets(placements, draining, eligible, placements, limit=len(placements))
    planned = dict(plan)
    for i, replicas in enumerate(placements):
        if not draining & set(replicas):
            assert i not in planned
            continue
        if len(eligible) < len(replicas):  # the factor cannot be kept: not moved
            assert i not in planned
            continue
        target = planned[i]
        assert len(target) == len(set(target)) == len(replicas)
        assert not draining & set(target)
        staying = tuple(r for r in replicas if r not in draining)
        assert target[: len(staying)] == staying
