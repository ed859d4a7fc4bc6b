"""Which of a Ready's log writes wait for an fsync under each ``--fsync`` policy
(``ReadyWriter.syncs_log``, issue 22): a pure rule, checked case by case."""

from __future__ import annotations

import pytest

from logd.cluster.ready_writer import syncs_log
from logd.storage.flusher import FlushPolicy
from replication import ConfState, Entry, EntryKind, HardState, Ready, Snapshot, SnapshotMeta

ENTRY = Entry(1, 5, 5, EntryKind.NORMAL, b"x")


def ready(*, entries: bool = False, truncate: bool = False, snapshot: bool = False) -> Ready:
    return Ready(
        soft_state=None,
        hard_state=HardState(1, None, 4),
        snapshot=Snapshot(SnapshotMeta(4, 1, ConfState.of([1]))) if snapshot else None,
        truncate_to=5 if truncate else None,
        entries=[ENTRY] if entries else [],
        committed_entries=[],
        commit=4,
        messages=[],
        messages_after_persist=[],
        must_sync=entries or truncate or snapshot,
    )


@pytest.mark.parametrize("policy", list(FlushPolicy))
@pytest.mark.parametrize("exempt", [False, True])
def test_snapshots_and_truncations_are_fsynced_under_every_policy(
    policy: FlushPolicy, exempt: bool
) -> None:
    assert syncs_log(policy, ready(snapshot=True), exempt=exempt)
    assert syncs_log(policy, ready(truncate=True, entries=True), exempt=exempt)
    assert syncs_log(policy, ready(truncate=True), exempt=exempt)


@pytest.mark.parametrize("policy", list(FlushPolicy))
@pytest.mark.parametrize("exempt", [False, True])
def test_a_ready_that_writes_no_entries_fsyncs_no_log(policy: FlushPolicy, exempt: bool) -> None:
    assert not syncs_log(policy, ready(), exempt=exempt)


@pytest.mark.parametrize(
    ("policy", "exempt", "synced"),
    [
        (FlushPolicy.ALWAYS, False, True),  # acks=all: fsynced on a majority
        (FlushPolicy.ALWAYS, True, True),
        (FlushPolicy.INTERVAL, False, False),  # the page cache counts (Redpanda, Kafka)
        (FlushPolicy.INTERVAL, True, True),  # the metadata log: always fsynced
        (FlushPolicy.NEVER, False, False),
        (FlushPolicy.NEVER, True, True),
    ],
)
def test_entries_follow_the_policy_except_the_metadata_log(
    policy: FlushPolicy, exempt: bool, synced: bool
) -> None:
    assert syncs_log(policy, ready(entries=True), exempt=exempt) is synced
