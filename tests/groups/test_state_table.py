"""The group lifecycle table: its shape, that every pair in it happens, and that nothing
outside it can."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from logd.errors import ErrorCode
from logd.groups import group as group_module
from logd.groups.group import Group
from logd.groups.messages import LeaveGroupMember
from logd.groups.state import (
    TRANSITIONS,
    GroupEvent,
    GroupState,
    IllegalTransitionError,
    next_state,
)
from tests.groups.harness import Harness, Member

S = GroupState
E = GroupEvent


def test_dead_is_terminal_and_every_live_state_can_be_unloaded() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] is S.DEAD]
    for state in S:
        if state is not S.DEAD:
            assert TRANSITIONS[(state, E.UNLOADED)] is S.DEAD


def test_only_an_empty_group_can_be_deleted_or_expire() -> None:
    for event in (E.DELETED, E.EXPIRED):
        assert [s for (s, e) in TRANSITIONS if e is event] == [S.EMPTY]


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in S for e in E if (s, e) not in TRANSITIONS],
    ids=lambda x: x.name,
)
def test_a_pair_outside_the_table_raises(state: GroupState, event: GroupEvent) -> None:
    with pytest.raises(IllegalTransitionError, match=event.name):
        next_state(state, event)
    group = Group("g", 0)
    group.state = state
    with pytest.raises(AssertionError):
        group.transition(event, 1)
    assert group.state is state


def test_state_names_are_kafkas() -> None:
    assert [s.value for s in S] == [
        "Empty",
        "PreparingRebalance",
        "CompletingRebalance",
        "Stable",
        "Dead",
    ]
    assert GroupState.parse("stable") is S.STABLE
    assert GroupState.parse("nope") is None


# ------------------------------------------------------------------------- reachability
# One scripted scenario per pair of the table; each must make the coordinator take exactly
# that transition (recorded at next_state, through the real request paths).


def _stable(h: Harness, *members: Member) -> None:
    h.form("g", *members)
    assert h.coord.group_state("g") is S.STABLE


def _first_join(h: Harness) -> None:
    h.join("g", Member("a"))


def _delete_empty(h: Harness) -> None:
    assert h.commit("g", {("t", 0): 1}) == [ErrorCode.NONE]
    h.coord.delete_groups(999, ["g"], h.now)
    h.drain()


def _expire(h: Harness) -> None:
    assert h.commit("g", {("t", 0): 1}) == [ErrorCode.NONE]
    h.advance(h.config.offsets_retention_ms + h.config.offsets_retention_check_interval_ms)


def _unload_empty(h: Harness) -> None:
    assert h.commit("g", {("t", 0): 1}) == [ErrorCode.NONE]
    h.coord.unload(h.now)


def _join_while_preparing(h: Harness) -> None:
    a, b = Member("a"), Member("b")
    _stable(h, a)
    h.join("g", b)  # Stable -> Preparing; a has not rejoined yet
    h.join("g", Member("c"))


def _leave_while_preparing(h: Harness) -> None:
    a, b = Member("a"), Member("b")
    _stable(h, a, b)
    h.join("g", a)  # the leader rejoins: Preparing, b has not rejoined
    h.leave("g", LeaveGroupMember(b.member_id))


def _complete_join(h: Harness) -> None:
    _stable(h, Member("a"))


def _complete_join_empty(h: Harness) -> None:
    a, b = Member("a"), Member("b")
    _stable(h, a, b)
    h.join("g", a)
    h.leave("g", LeaveGroupMember(a.member_id), LeaveGroupMember(b.member_id))


def _unload_preparing(h: Harness) -> None:
    a, b = Member("a"), Member("b")
    _stable(h, a, b)
    h.join("g", a)
    h.coord.unload(h.now)


def _completing(h: Harness, *members: Member) -> None:
    h.form("g", *members, assign=False)
    assert h.coord.group_state("g") is S.COMPLETING_REBALANCE


def _join_while_completing(h: Harness) -> None:
    _completing(h, Member("a"))
    h.join("g", Member("b"))


def _leave_while_completing(h: Harness) -> None:
    a = Member("a")
    _completing(h, a, Member("b"))
    h.leave("g", LeaveGroupMember(a.member_id))


def _assignment_persisted(h: Harness) -> None:
    _stable(h, Member("a"))


def _assignment_failed(h: Harness) -> None:
    h.auto_persist = False
    a = Member("a")
    _completing(h, a)
    h.sync("g", a, {a.member_id: b"x"})
    h.persist_next(ErrorCode.NOT_ENOUGH_REPLICAS)


def _unload_completing(h: Harness) -> None:
    _completing(h, Member("a"))
    h.coord.unload(h.now)


def _join_while_stable(h: Harness) -> None:
    _stable(h, Member("a"))
    h.join("g", Member("b"))


def _leave_while_stable(h: Harness) -> None:
    a = Member("a")
    _stable(h, a, Member("b"))
    h.leave("g", LeaveGroupMember(a.member_id))


def _static_replaced(h: Harness) -> None:
    s = Member("s", instance_id="s-1")
    _stable(h, s)
    h.join("g", Member("s", instance_id="s-1"))


def _unload_stable(h: Harness) -> None:
    _stable(h, Member("a"))
    h.coord.unload(h.now)


SCENARIOS: dict[tuple[GroupState, GroupEvent], Callable[[Harness], None]] = {
    (S.EMPTY, E.MEMBER_JOINED): _first_join,
    (S.EMPTY, E.DELETED): _delete_empty,
    (S.EMPTY, E.EXPIRED): _expire,
    (S.EMPTY, E.UNLOADED): _unload_empty,
    (S.PREPARING_REBALANCE, E.MEMBER_JOINED): _join_while_preparing,
    (S.PREPARING_REBALANCE, E.MEMBER_REMOVED): _leave_while_preparing,
    (S.PREPARING_REBALANCE, E.JOIN_COMPLETED): _complete_join,
    (S.PREPARING_REBALANCE, E.JOIN_COMPLETED_EMPTY): _complete_join_empty,
    (S.PREPARING_REBALANCE, E.UNLOADED): _unload_preparing,
    (S.COMPLETING_REBALANCE, E.MEMBER_JOINED): _join_while_completing,
    (S.COMPLETING_REBALANCE, E.MEMBER_REMOVED): _leave_while_completing,
    (S.COMPLETING_REBALANCE, E.ASSIGNMENT_PERSISTED): _assignment_persisted,
    (S.COMPLETING_REBALANCE, E.ASSIGNMENT_FAILED): _assignment_failed,
    (S.COMPLETING_REBALANCE, E.UNLOADED): _unload_completing,
    (S.STABLE, E.MEMBER_JOINED): _join_while_stable,
    (S.STABLE, E.MEMBER_REMOVED): _leave_while_stable,
    (S.STABLE, E.STATIC_MEMBER_REPLACED): _static_replaced,
    (S.STABLE, E.UNLOADED): _unload_stable,
}


def test_there_is_a_scenario_for_every_pair() -> None:
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("pair", list(SCENARIOS), ids=lambda p: f"{p[0].name}-{p[1].name}")
def test_every_pair_is_reachable(
    pair: tuple[GroupState, GroupEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[GroupState, GroupEvent]] = []

    def recording(state: GroupState, event: GroupEvent) -> GroupState:
        seen.append((state, event))
        return next_state(state, event)

    monkeypatch.setattr(group_module, "next_state", recording)
    SCENARIOS[pair](Harness())
    assert pair in seen, f"scenario took {seen}"
