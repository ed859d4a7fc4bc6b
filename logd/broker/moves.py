"""Partition moves, the metadata side (issue 23): start one, cancel one, list them.

A move is written to the metadata as KRaft writes a reassignment: the partition's record
names every replica hosting it while it moves (the target first), the ones joining
(``adding``) and the ones leaving (``removing``). The brokers named host the partition;
its Raft leader walks the group to the target and completes the move at the controller
(``logd.cluster.mover``). One move per partition at a time. A cancel is the move back:
target = the replicas before the move; whatever the group did so far is undone the same
way (no replica has deleted its data: that happens only once a move completes).

Ownership: used on the broker's event loop; holds no state of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from logd.broker.api import PartitionMove
from logd.errors import (
    InvalidReplicaAssignmentError,
    NoReassignmentInProgressError,
    ReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import MetadataStore, PartitionAssignment, TopicRecord, check_not_reserved

__all__ = ["PartitionMoves", "moved_to"]


def moved_to(current: PartitionAssignment, target: Sequence[int]) -> PartitionAssignment:
    """``current`` (no move in progress) moving to ``target``: hosted on both sets."""
    kept = tuple(target)
    leaving = tuple(r for r in current.replicas if r not in kept)
    joining = tuple(r for r in kept if r not in current.replicas)
    replicas = kept + leaving
    return PartitionAssignment(
        current.partition, replicas, replicas[0], 0, replicas, joining, leaving
    )


class PartitionMoves:
    """Starts, cancels and lists moves through the metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def move(self, topic: str, partition: int, to: Sequence[int]) -> None:
        """Start moving ``topic-partition`` to the brokers ``to`` (the first preferred)."""
        check_not_reserved(topic, "move")
        target = tuple(to)
        self._check_target(target)

        def change(record: TopicRecord) -> TopicRecord:
            current = _partition(record, partition)
            if current.moving:
                raise ReassignmentInProgressError(
                    f"{topic}-{partition} is moving to {list(current.target)} already; "
                    "cancel that move first"
                )
            if current.replicas == target:
                return record
            return _with(record, moved_to(current, target))

        change(self._record(topic))
        await self._store.update_topic(topic, change)

    async def cancel(self, topic: str, partition: int) -> None:
        """Move ``topic-partition`` back to the replicas it had before its move."""
        check_not_reserved(topic, "move")

        def change(record: TopicRecord) -> TopicRecord:
            current = _partition(record, partition)
            if not current.moving:
                raise NoReassignmentInProgressError(f"{topic}-{partition} is not moving")
            joining = set(current.adding)
            before = tuple(r for r in current.replicas if r not in joining)
            back = moved_to(_settled(current), before)
            return _with(record, back if back.moving else _settled(back))

        change(self._record(topic))
        await self._store.update_topic(topic, change)

    def list(self, topics: Sequence[str] = ()) -> list[PartitionMove]:
        """The moves in progress (of ``topics``; empty: of every topic)."""
        records = self._store.topics()
        names = sorted(topics) if topics else sorted(records)
        out = []
        for name in names:
            record = records.get(name)
            if record is None:
                continue
            for a in record.partitions:
                if a.moving:
                    out.append(PartitionMove(name, a.partition, a.replicas, a.adding, a.removing))
        return out

    def _record(self, topic: str) -> TopicRecord:
        record = self._store.topic(topic)
        if record is None:
            raise UnknownTopicOrPartitionError(f"topic {topic!r} does not exist")
        return record

    def _check_target(self, target: tuple[int, ...]) -> None:
        if not target:
            raise InvalidReplicaAssignmentError("a move needs at least one target broker")
        if len(set(target)) != len(target):
            raise InvalidReplicaAssignmentError(f"broker named twice in {list(target)}")
        known = {b.node_id for b in self._store.brokers()}
        unknown = sorted(set(target) - known)
        if unknown:
            raise InvalidReplicaAssignmentError(
                f"unknown brokers {unknown} (the cluster has {sorted(known)})"
            )


def _partition(record: TopicRecord, partition: int) -> PartitionAssignment:
    if not 0 <= partition < len(record.partitions):
        raise UnknownTopicOrPartitionError(
            f"topic {record.name!r} has no partition {partition} (it has {len(record.partitions)})"
        )
    return record.partitions[partition]


def _settled(a: PartitionAssignment) -> PartitionAssignment:
    """``a`` as if its move were done: hosted on its target only."""
    target = a.target
    return PartitionAssignment(a.partition, target, target[0], 0, target)


def _with(record: TopicRecord, a: PartitionAssignment) -> TopicRecord:
    parts = list(record.partitions)
    parts[a.partition] = a
    return dataclasses.replace(record, partitions=tuple(parts))
