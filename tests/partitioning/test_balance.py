"""Evening out replica counts (``partitioning.balance``): pure, no I/O."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning.balance import balance_moves


def _loads(placements: list[tuple[int, ...]], brokers: list[int]) -> dict[int, int]:
    return {b: sum(b in r for r in placements) for b in brokers}


def test_a_new_broker_takes_its_share_in_place() -> None:
    placements = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1)]
    plan = balance_moves(placements, [0, 1, 2, 3], [True] * 4, limit=10)
    after = list(placements)
    for i, target in plan:
        after[i] = target
    assert _loads(after, [0, 1, 2, 3]) == {0: 3, 1: 3, 2: 3, 3: 3}
    # In place: each move swaps one broker for broker 3 at the same position.
    for i, target in plan:
        changed = [(a, b) for a, b in zip(placements[i], target, strict=True) if a != b]
        assert len(changed) == 1 and changed[0][1] == 3


def test_moving_partitions_and_the_limit_are_respected() -> None:
    placements = [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    assert balance_moves(placements, [0, 1, 2, 3], [False] * 3, limit=10) == []
    assert len(balance_moves(placements, [0, 1, 2, 3], [True] * 3, limit=1)) == 1
    assert balance_moves(placements, [0, 1, 2], [True] * 3, limit=10) == []  # balanced


@settings(max_examples=200)
@given(
    st.integers(2, 8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.integers(0, n - 1), min_size=1, max_size=min(3, n), unique=True).map(
                    tuple
                ),
                max_size=40,
            ),
        )
    )
)
def test_a_full_plan_leaves_counts_within_one_or_no_move_left(
    case: tuple[int, list[tuple[int, ...]]],
) -> None:
    n, placements = case
    brokers = list(range(n))
    plan = balance_moves(placements, brokers, [True] * len(placements), limit=len(placements))
    after = list(placements)
    for i, target in plan:
        assert len(set(target)) == len(target) == len(placements[i])
        after[i] = target
    loads = _loads(after, brokers)
    spread = max(loads.values()) - min(loads.values())
    before = _loads(placements, brokers)
    assert spread <= max(before.values()) - min(before.values())
    assert len({i for i, _ in plan}) == len(plan)  # each partition at most once
