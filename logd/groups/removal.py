"""What a deletion takes out of the coordinator's memory, kept until its tombstones are in
the log: DeleteGroups, OffsetDelete and the retention sweep remove groups and offsets at
once (later requests must not see them), and if the log *refuses* the tombstones (the
append failed: a full disk, a lost leadership) everything comes back as it was -- memory
never holds less than the log, which still has the records. Kafka's coordinator reverts
its timeline state to the last written offset in the same case.

A tombstone that reached the log but was not committed in time stays removed: it may still
commit (and a lost leadership unloads the coordinator).

Pure; not thread-safe; used by ``offsets.py`` on its coordinator's core.
"""

from __future__ import annotations

from dataclasses import dataclass

from logd.groups import consumer_ops
from logd.groups.core import Core
from logd.groups.group import Group
from logd.groups.log_format import OffsetCommitValue
from logd.groups.messages import TopicPartition
from logd.groups.state import GroupState

__all__ = ["Removal", "put_back"]


@dataclass(frozen=True, slots=True)
class Removal:
    """One group before a deletion touched it: its offsets and, for a group buried with
    them, its state and its consumer-protocol records."""

    group: Group
    state: GroupState
    state_since_ms: int
    offsets: dict[TopicPartition, OffsetCommitValue]
    pending_commits: dict[TopicPartition, int]
    pending_members: dict[str, None]
    persisted: dict[bytes, bytes] | None

    @classmethod
    def of(cls, group: Group) -> Removal:
        """``group`` as it is now, before the deletion changes it."""
        consumer = group.consumer
        return cls(
            group,
            group.state,
            group.current_state_timestamp_ms,
            dict(group.offsets),
            dict(group.pending_commits),
            dict(group.pending_members),
            dict(consumer.persisted) if consumer is not None else None,
        )


def put_back(core: Core, removals: list[Removal]) -> None:
    """The log refused the deletion's tombstones: every group as it was before it."""
    for removal in removals:
        group = removal.group
        group.offsets = dict(removal.offsets)
        group.pending_commits = dict(removal.pending_commits)
        group.pending_members = dict(removal.pending_members)
        if group.consumer is not None and removal.persisted is not None:
            group.consumer.persisted = dict(removal.persisted)
        if core.groups.get(group.group_id) is None:
            # Buried (Empty -> Dead): back to the state it had, which the state machine
            # has no event for -- the deletion never happened as far as the log knows.
            group.state = removal.state
            group.current_state_timestamp_ms = removal.state_since_ms
            core.groups[group.group_id] = group
            consumer_ops.rearm(core, group)
