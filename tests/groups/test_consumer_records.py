"""Consumer-protocol groups (KIP-848) survive their coordinator: Kafka's records (key
versions 3-8) are written as the group changes, and a new coordinator that replays the
partition gives every member back its epoch and assignment -- no fencing, no rejoin.
Members and groups that go leave tombstones, so a compacted partition forgets them."""

from __future__ import annotations

import dataclasses
import struct
import uuid

import pytest

from logd.errors import CorruptRecordError, ErrorCode
from logd.groups.consumer_group import ConsumerHeartbeat, ConsumerHeartbeatAnswer
from logd.groups.consumer_records import (
    CURRENT,
    GROUP,
    ConsumerKey,
    decode_consumer_key,
    encode_key,
)
from logd.groups.outbox import OffsetsRecord
from partitioning import TopicPartition
from tests.groups.harness import Harness
from tests.groups.test_consumer_coordinator import CONFIG

TOPICS = {"t": 4}
IDS = {"t": uuid.UUID(int=7)}


def beat(h: Harness, member: str, epoch: int, owned: frozenset[TopicPartition] | None = None,
         instance: str | None = None) -> ConsumerHeartbeatAnswer:  # fmt: skip
    rid = 20_000 + len(h.responses)
    joining = epoch == 0
    req = ConsumerHeartbeat(
        group_id="g", member_id=member, member_epoch=epoch, instance_id=instance,
        rebalance_timeout_ms=5_000 if joining else -1,
        subscribed_topics=("t",) if joining else None,
        owned=frozenset() if joining else owned,
    )  # fmt: skip
    h.coord.consumer_group_heartbeat(rid, req, TOPICS, h.now, IDS)
    h.drain()
    body = h.answer(rid)
    assert isinstance(body, ConsumerHeartbeatAnswer)
    return body


def compacted(log: list[OffsetsRecord]) -> dict[bytes, bytes]:
    """What a compacted partition keeps: the last value per key, tombstones dropped."""
    last: dict[bytes, bytes | None] = {}
    for record in log:
        last[record.key] = record.value
    return {k: v for k, v in last.items() if v is not None}


def settle(h: Harness) -> tuple[ConsumerHeartbeatAnswer, ConsumerHeartbeatAnswer]:
    """a and b join and reconcile until both are stable with two partitions each; the
    answers carry each one's whole assignment."""
    a = beat(h, "a", 0)
    b = beat(h, "b", 0)
    a = beat(h, "a", a.member_epoch, a.assignment)  # told to revoke two
    assert a.assignment is not None and len(a.assignment) == 2
    kept = a.assignment
    a = beat(h, "a", a.member_epoch, kept)  # revoked: takes the new epoch
    b = beat(h, "b", b.member_epoch, frozenset())  # gets the released two
    assert b.assignment is not None and len(b.assignment) == 2
    return dataclasses.replace(a, assignment=kept), b


def test_a_new_coordinator_gives_members_back_their_epochs_and_assignments() -> None:
    old = Harness(CONFIG)
    a, b = settle(old)
    before = old.coord.describe_consumer_groups(["g"])[0]
    new = Harness(CONFIG, replay=old.log)
    after = new.coord.describe_consumer_groups(["g"])[0]
    assert (after.error, after.group_epoch, after.assignment_epoch) == (
        ErrorCode.NONE, before.group_epoch, before.assignment_epoch,
    )  # fmt: skip
    assert {m.member_id: (m.member_epoch, m.assigned) for m in after.members} == {
        m.member_id: (m.member_epoch, m.assigned) for m in before.members
    }
    # Both go on heartbeating at their epochs: not fenced, nothing moves.
    again_a = beat(new, "a", a.member_epoch, a.assignment)
    again_b = beat(new, "b", b.member_epoch, b.assignment)
    assert (again_a.error, again_a.member_epoch) == (ErrorCode.NONE, a.member_epoch)
    assert (again_b.error, again_b.member_epoch) == (ErrorCode.NONE, b.member_epoch)
    assert again_a.assignment is None and again_b.assignment is None  # unchanged
    assert not new.log  # a steady heartbeat writes nothing


def test_the_compacted_partition_replays_to_the_same_group() -> None:
    old = Harness(CONFIG)
    settle(old)
    new = Harness(CONFIG, replay=[OffsetsRecord(k, v) for k, v in compacted(old.log).items()])
    (a,) = [m for m in new.coord.describe_consumer_groups(["g"])[0].members if m.member_id == "a"]
    assert len(a.assigned) == 2


def test_a_member_that_leaves_and_a_group_that_goes_leave_tombstones() -> None:
    h = Harness(CONFIG)
    a, b = settle(h)
    assert beat(h, "b", -1, b.assignment).error is ErrorCode.NONE
    kept = compacted(h.log)
    members = {decode_consumer_key(k).member_id for k in kept}
    assert "b" not in members and "a" in members
    assert beat(h, "a", -1, a.assignment).error is ErrorCode.NONE  # no offsets: group gone
    assert compacted(h.log) == {}
    assert Harness(CONFIG, replay=h.log).coord.list_groups().groups == ()


def test_an_expired_session_is_written_and_a_group_with_offsets_stays_until_deleted() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0)
    assert h.commit("g", {("t", 0): 5}, _member("a", a.member_epoch)) == [ErrorCode.NONE]
    h.run_timers(h.now + 2_000)  # a's session ends
    new = Harness(CONFIG, replay=h.log)
    (group,) = new.coord.describe_consumer_groups(["g"])
    assert (group.error, group.members) == (ErrorCode.NONE, ())
    assert new.committed("g") == {("t", 0): 5}
    assert new.coord.list_groups().groups[0].group_type == "consumer"
    rid = 30_000
    new.coord.delete_groups(rid, ["g"], new.now)
    new.drain()
    assert compacted([*h.log, *new.log]) == {}


def test_bad_consumer_records_are_refused_with_a_typed_error() -> None:
    key = encode_key(ConsumerKey(CURRENT, "g", "a"))
    assert decode_consumer_key(key) == ConsumerKey(CURRENT, "g", "a")
    h = Harness(CONFIG, loaded=False)
    for bad_key, value in (
        (key[:-1], None),  # truncated key
        (key + b"x", None),  # trailing bytes
        (encode_key(ConsumerKey(GROUP, "g")), b"\x00\x00\x00"),  # truncated value
        (encode_key(ConsumerKey(GROUP, "g")), struct.pack(">h", 9) + b"\x00" * 5),  # version
        (key, b"\x00\x00" + b"\x00" * 8 + b"\x7f\x01\x01\x00"),  # unknown member state
    ):
        with pytest.raises(CorruptRecordError):
            h.coord.replay(bad_key, value)


def _member(member_id: str, epoch: int) -> object:
    from tests.groups.harness import Member

    m = Member("c")
    m.member_id, m.generation = member_id, epoch
    return m


def test_the_loader_routes_the_same_key_versions_without_importing_kio() -> None:
    from logd.groups import loader
    from logd.groups.consumer_records import CONSUMER_KEY_VERSIONS

    assert loader._CONSUMER_KEY_VERSIONS == CONSUMER_KEY_VERSIONS == range(3, 9)


def test_a_static_member_that_leaves_with_epoch_minus_2_gets_its_partitions_back() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0, instance="i-a")
    b = beat(h, "b", 0, instance="i-b")
    a = beat(h, "a", a.member_epoch, a.assignment, instance="i-a")  # revoke two
    assert a.assignment is not None
    kept = a.assignment
    beat(h, "a", a.member_epoch, kept)
    b = beat(h, "b", b.member_epoch, frozenset())
    assert b.assignment is not None and len(b.assignment) == 2
    epoch = h.coord.describe_consumer_groups(["g"])[0].group_epoch
    left = beat(h, "a", -2, kept, instance="i-a")
    assert (left.error, left.member_epoch) == (ErrorCode.NONE, -2)
    # b is not given a's partitions meanwhile, and the group epoch stays.
    still = beat(h, "b", b.member_epoch, b.assignment)
    assert (still.error, still.assignment) == (ErrorCode.NONE, None)
    # Another member with the same instance id while a is still in: refused.
    assert beat(h, "b2", 0, instance="i-b").error is ErrorCode.UNRELEASED_INSTANCE_ID
    # The new coordinator knows a left statically (its records say epoch -2).
    old_log = h.log
    h = Harness(CONFIG, replay=old_log, now_ms=h.now)
    back = beat(h, "a2", 0, instance="i-a")  # a restarted: a new member id
    assert (back.error, back.assignment) == (ErrorCode.NONE, kept)
    described = h.coord.describe_consumer_groups(["g"])[0]
    assert described.group_epoch == epoch  # no rebalance
    assert {m.member_id for m in described.members} == {"a2", "b"}
    live = {decode_consumer_key(k).member_id for k in compacted([*old_log, *h.log])}
    assert live == {"a2", "b", None}  # a's records are tombstoned


def test_a_static_member_that_stays_away_past_its_session_is_removed() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0, instance="i-a")
    assert beat(h, "a", -2, a.assignment, instance="i-a").error is ErrorCode.NONE
    h.run_timers(h.now + 2_000)
    assert h.coord.describe_consumer_groups(["g"])[0].error is not ErrorCode.NONE
    assert beat(h, "a", -2, frozenset()).error is ErrorCode.INVALID_REQUEST  # no instance id


def test_offset_fetch_of_a_consumer_group_is_fenced_by_the_member_epoch() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0)
    fetch = h.coord.fetch_offsets
    assert fetch("g", None, "a", a.member_epoch).error is ErrorCode.NONE
    assert fetch("g", None, "a", a.member_epoch + 1).error is ErrorCode.STALE_MEMBER_EPOCH
    assert fetch("g", None, "zz", a.member_epoch).error is ErrorCode.UNKNOWN_MEMBER_ID
    assert fetch("g", None, None, -1).error is ErrorCode.NONE  # an admin's
    assert fetch("g", None, "a", -1).error is ErrorCode.STALE_MEMBER_EPOCH
