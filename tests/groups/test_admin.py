"""What operators see: list, describe, and committed offsets with their owners."""

from __future__ import annotations

from collections.abc import Iterable

from logd.errors import CorruptRecordError, ErrorCode
from logd.groups.messages import LeaveGroupMember, PartitionOffset
from logd.groups.state import GroupState
from tests.groups.harness import Harness, Member

S = GroupState


def _decode(assignment: bytes) -> Iterable[tuple[str, int]]:
    """A stand-in for ConsumerProtocol: b"t:0,t:1"."""
    if not assignment.startswith(b"t:"):
        raise CorruptRecordError("not an assignment")
    if assignment == b"t:junk":
        raise ValueError("what partitioning's ProtocolDecodeError is")
    return [("t", int(part.split(b":")[1])) for part in assignment.split(b",")]


def test_committed_offsets_per_partition_with_the_member_that_owns_it() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b, assign=False)
    h.sync("g", b)
    h.sync("g", a, {a.member_id: b"t:0,t:1", b.member_id: b"t:2"})
    h.commit("g", {("t", 0): 10, ("t", 2): 30, ("old", 0): 5}, a)
    view = h.coord.group_offsets("g", _decode)
    assert view.state is S.STABLE
    rows = [(r.topic, r.partition, r.committed_offset, r.member_id) for r in view.partitions]
    assert rows == [
        ("old", 0, 5, ""),  # committed, assigned to nobody now
        ("t", 0, 10, a.member_id),
        ("t", 1, -1, a.member_id),  # assigned, nothing committed yet
        ("t", 2, 30, b.member_id),
    ]
    assert view.partitions[1] == PartitionOffset(
        "t", 0, 10, -1, "", a.member_id, None, "a", "/10.0.0.1"
    )


def test_an_assignment_that_cannot_be_decoded_shows_no_owner() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b, assign=False)
    h.sync("g", b)
    h.sync("g", a, {a.member_id: b"t:junk", b.member_id: b"t:1"})
    h.commit("g", {("t", 0): 1}, a)
    view = h.coord.group_offsets("g", _decode)
    assert [(r.partition, r.member_id) for r in view.partitions] == [(0, ""), (1, b.member_id)]


def test_list_groups_filters_by_state() -> None:
    h = Harness()
    h.form("stable", Member("a"))
    h.commit("simple", {("t", 0): 1})
    b = Member("b")
    h.join("joining", b)
    every = h.coord.list_groups()
    assert [(g.group_id, g.state, g.protocol_type) for g in every.groups] == [
        ("joining", S.PREPARING_REBALANCE, "consumer"),
        ("simple", S.EMPTY, ""),
        ("stable", S.STABLE, "consumer"),
    ]
    only = h.coord.list_groups({S.STABLE, S.EMPTY})
    assert [g.group_id for g in only.groups] == ["simple", "stable"]


def test_describe_shows_subscriptions_and_assignments_only_when_stable() -> None:
    h = Harness()
    a, b = Member("a"), Member("b")
    h.form("g", a, b)
    stable = h.coord.describe_groups(["g"]).groups[0]
    assert [(m.metadata, m.assignment) for m in stable.members] == [
        (b"sub", b"p0"),
        (b"sub", b"p1"),
    ]
    h.leave("g", LeaveGroupMember(b.member_id))
    preparing = h.coord.describe_groups(["g", "nope"]).groups
    assert preparing[0].state is S.PREPARING_REBALANCE and preparing[0].protocol_name == ""
    assert [(m.member_id, m.metadata, m.assignment) for m in preparing[0].members] == [
        (a.member_id, b"", b"")
    ]
    assert (preparing[1].state, preparing[1].error) == (S.DEAD, ErrorCode.NONE)
