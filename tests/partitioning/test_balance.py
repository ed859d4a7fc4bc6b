"""Evening out replicas and leaders by count, bytes and racks (``partitioning.balance``):
pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from partitioning.balance import BYTES_TOLERANCE, Part, Plan, plan_balance, racks_needed


def _apply(parts: list[Part], plan: Plan) -> list[Part]:
    after = list(parts)
    for i, target in (*plan.moves, *plan.leaders):
        after[i] = Part(target, parts[i].size, parts[i].movable)
    return after


def _count(
    parts: Sequence[Part], brokers: Sequence[int], *, leaders: bool = False
) -> dict[int, int]:
    return {b: sum((p.replicas[:1] if leaders else p.replicas).count(b) for p in parts)
            for b in brokers}  # fmt: skip


def _bytes(parts: Sequence[Part], brokers: Sequence[int]) -> dict[int, int]:
    return {b: sum(p.size for p in parts if b in p.replicas) for b in brokers}


def _spread(values: Mapping[int, int]) -> int:
    return max(values.values()) - min(values.values())


def _racks(parts: Sequence[Part], racks: Mapping[int, str]) -> list[int]:
    return [len({racks.get(b, str(b)) for b in p.replicas}) for p in parts]


def _converge(
    parts: list[Part], brokers: list[int], racks: Mapping[int, str], limit: int
) -> tuple[list[Part], int]:
    """Plans applied (as if every move completed) until one is empty; the rounds taken."""
    for rounds in range(1, 200):
        plan = plan_balance(parts, brokers, racks, limit)
        if not plan.moves and not plan.leaders:
            return parts, rounds
        parts = _apply(parts, plan)
    raise AssertionError("the plans never converged")


def test_a_new_broker_takes_its_share_in_place_and_leads_its_share() -> None:
    parts = [Part(r) for r in [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1)]]
    plan = plan_balance(parts, [0, 1, 2, 3], {}, limit=10)
    after = _apply(parts, plan)
    assert _count(after, [0, 1, 2, 3]) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert _count(after, [0, 1, 2, 3], leaders=True) == {0: 1, 1: 1, 2: 1, 3: 1}
    for i, target in plan.moves:  # each: one broker traded for broker 3
        assert set(target) - set(parts[i].replicas) == {3}
        assert len(set(parts[i].replicas) - set(target)) == 1


def test_leaders_even_out_by_reordering_replicas_only() -> None:
    # Replicas even (4 each), leaders not: broker 0 prefers 4 partitions, 1 and 3 one each.
    parts = [Part(r) for r in [(0, 1), (0, 2), (0, 3), (0, 1), (2, 3), (2, 3), (1, 2), (3, 1)]]
    brokers = [0, 1, 2, 3]
    plan = plan_balance(parts, brokers, {}, limit=64)
    assert plan.moves == ()  # the replica counts are even (4 each): no data moves
    for i, target in plan.leaders:
        assert sorted(target) == sorted(parts[i].replicas)
    assert _count(_apply(parts, plan), brokers, leaders=True) == {0: 2, 1: 2, 2: 2, 3: 2}


def test_a_broker_holding_the_big_partitions_trades_one_for_a_small_one() -> None:
    # Counts even (RF=1, 2 partitions each), bytes not: 0 holds 100+90, 1 holds 10+10.
    parts = [Part((0,), 100), Part((0,), 90), Part((1,), 10), Part((1,), 10)]
    plan = plan_balance(parts, [0, 1], {}, limit=64)
    after = _apply(parts, plan)
    assert _count(after, [0, 1]) == {0: 2, 1: 2}
    assert _bytes(after, [0, 1]) in ({0: 110, 1: 100}, {0: 100, 1: 110})
    # Already even within the tolerance: nothing moves.
    assert plan_balance(after, [0, 1], {}, limit=64).moves == ()


def test_racks_get_one_replica_each_while_there_are_enough() -> None:
    racks = {0: "a", 1: "a", 2: "b", 3: "b"}
    parts = [Part((0, 1)), Part((2, 3)), Part((0, 2)), Part((1, 3))]
    plan = plan_balance(parts, [0, 1, 2, 3], racks, limit=64)
    after = _apply(parts, plan)
    assert _racks(after, racks) == [2, 2, 2, 2]
    assert _count(after, [0, 1, 2, 3]) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert len(plan.moves) == 2  # one replica of each of the two one-rack partitions


def test_moving_partitions_the_limit_and_a_balanced_cluster_are_respected() -> None:
    replicas = [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    moving = [Part(r, movable=False) for r in replicas]
    assert plan_balance(moving, [0, 1, 2, 3], {}, limit=10) == Plan((), ())
    assert len(plan_balance([Part(r) for r in replicas], [0, 1, 2, 3], {}, 1).moves) == 1
    assert plan_balance([Part(r) for r in replicas], [0, 1, 2], {}, 10) == Plan((), ())


def test_brokers_left_out_take_nothing_and_keep_their_replicas() -> None:
    parts = [Part((0, 1)), Part((0, 2)), Part((0, 1)), Part((4, 0))]
    plan = plan_balance(parts, [0, 1, 2, 3], {}, limit=64)  # 4: draining or dead
    for i, target in plan.moves:
        assert 4 not in set(target) - set(parts[i].replicas)
        assert (4 in target) == (4 in parts[i].replicas)


_CASE = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(
                st.lists(st.integers(0, n - 1), min_size=1, max_size=min(3, n), unique=True),
                st.sampled_from([0, 0, 1, 10, 100, 1000, 5000]),
                st.sampled_from([True, True, True, False]),
            ),
            max_size=30,
        ),
        st.lists(st.sampled_from(["a", "b", "c", ""]), min_size=n, max_size=n),
        st.integers(1, 12),
    )
)


@settings(max_examples=150, deadline=None)
@given(_CASE)
def test_every_plan_keeps_factors_and_racks_and_the_plans_converge(
    case: tuple[int, list[tuple[list[int], int, bool]], list[str], int],
) -> None:
    n, raw, rack_names, limit = case
    brokers = list(range(n))
    racks = {b: r for b, r in zip(brokers, rack_names, strict=True) if r}
    parts = [Part(tuple(r), size, movable) for r, size, movable in raw]
    plan = plan_balance(parts, brokers, racks, limit)
    assert len(plan.moves) <= limit and len(plan.leaders) <= limit
    changed = [i for i, _ in (*plan.moves, *plan.leaders)]
    assert len(changed) == len(set(changed))  # each partition at most once a plan
    for i, target in (*plan.moves, *plan.leaders):
        before = parts[i].replicas
        assert parts[i].movable
        assert len(target) == len(set(target)) == len(before)  # RF kept, no broker twice
        assert set(target) - set(before) <= set(brokers)
        spread = len({racks.get(b, f"#{b}") for b in target})
        had = len({racks.get(b, f"#{b}") for b in before})
        assert spread >= min(had, racks_needed(len(before), brokers, racks))
    for i, target in plan.leaders:
        assert set(target) == set(parts[i].replicas)  # leadership only: no data moves
    final, _ = _converge(parts, brokers, racks, limit)
    for p, q in zip(parts, final, strict=True):
        if not p.movable:
            assert q == p
    if all(p.movable for p in parts):
        for q in final:  # every partition spans the racks it needs once balanced
            spread = len({racks.get(b, f"#{b}") for b in q.replicas})
            assert spread >= racks_needed(len(q.replicas), brokers, racks)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=30))
    )
)
def test_counts_even_out_with_the_fewest_moves(case: tuple[int, list[int]]) -> None:
    # RF=1, no sizes, no racks: nothing stops a move, so the counts end within one, having
    # moved exactly the replicas above the best within-one spread.
    n, placed = case
    brokers = list(range(n))
    parts = [Part((b,)) for b in placed]
    counts = sorted(_count(parts, brokers).values(), reverse=True)
    low, extra = divmod(len(parts), n)
    fewest = sum(max(0, c - (low + (k < extra))) for k, c in enumerate(counts))
    plan = plan_balance(parts, brokers, {}, limit=len(parts) + 1)
    after = _apply(parts, plan)
    assert len(plan.moves) == fewest
    assert _spread(_count(after, brokers)) <= 1
    assert _spread(_count(after, brokers, leaders=True)) <= 1


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(1, 10_000), min_size=n, max_size=4 * n),
        )
    )
)
def test_bytes_even_out_when_counts_are_even(case: tuple[int, list[int]]) -> None:
    # RF=1, k partitions each (counts even): the plans only lower the bytes' sum of squares
    # and stop with the spread within the tolerance or no trade that helps.
    n, sizes = case
    brokers = list(range(n))
    sizes = sizes[: len(sizes) // n * n]
    parts = [Part((k % n,), size) for k, size in enumerate(sizes)]

    def squares(ps: list[Part]) -> int:
        return sum(v * v for v in _bytes(ps, brokers).values())

    final, _ = _converge(parts, brokers, {}, limit=len(parts))
    assert squares(final) <= squares(parts)
    assert _spread(_count(final, brokers)) == 0
    held = _bytes(final, brokers)
    floor = BYTES_TOLERANCE * sum(held.values()) / n
    if _spread(held) > floor:  # stuck only when no single trade narrows the widest pair enough
        src, dst = max(held, key=held.__getitem__), min(held, key=held.__getitem__)
        gap = held[src] - held[dst]
        mine = [p.size for p in final if p.replicas == (src,)]
        theirs = [p.size for p in final if p.replicas == (dst,)]
        assert not any(0 < a - b < gap and gap - abs(gap - 2 * (a - b)) > floor
                       for a in mine for b in theirs)  # fmt: skip
