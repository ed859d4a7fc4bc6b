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
from collections.abc import Callable, Sequence
from typing import Final

from logd.broker.api import PartitionMove
from logd.cluster.balancing import plan_changes, start_changes
from logd.errors import (
    InvalidReplicaAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    NoReassignmentInProgressError,
    ReassignmentInProgressError,
    UnknownTopicOrPartitionError,
)
from logd.metadata.store import (
    MetadataStore,
    PartitionAssignment,
    TopicRecord,
    check_not_reserved,
)

__all__ = ["BALANCE_MOVES", "PartitionMoves"]

#: Moves one ``balance`` starts at most (run it again once they are done).
BALANCE_MOVES: Final = 64


class PartitionMoves:
    """Starts, cancels and lists moves through the metadata store."""

    def __init__(self, store: MetadataStore, default_throttle: Callable[[], int] = int) -> None:
        self._store = store
        #: The balancer's throttle when none is asked (bytes/s; 0: none), read at each
        #: balance: ``partition.move.throttle`` may change at runtime (cluster config).
        self._default_throttle = default_throttle

    async def move(
        self,
        topic: str,
        partition: int,
        to: Sequence[int],
        throttle: int = 0,
        *,
        keep_replication_factor: bool = False,
        replace: bool = False,
    ) -> None:
        """Start moving ``topic-partition`` to the brokers ``to`` (the first preferred),
        the joining replicas catching up at most ``throttle`` bytes a second (0: no limit).
        ``keep_replication_factor``: refuse a target of another size (Kafka's
        AlterPartitionReassignments v1 ``allow_replication_factor_change=false``).
        ``replace``: a move in progress is replaced by this one (Kafka's
        AlterPartitionReassignments; :func:`_replaced`); otherwise it is refused
        (REASSIGNMENT_IN_PROGRESS: logd's own clients cancel first)."""
        check_not_reserved(topic, "move")
        target = tuple(to)
        self._check_target(target)
        if throttle < 0:
            raise InvalidRequestError(f"a throttle of {throttle} bytes/s: it must be >= 0")

        def change(record: TopicRecord) -> TopicRecord:
            current = _partition(record, partition)
            if current.moving and not replace:
                raise ReassignmentInProgressError(
                    f"{topic}-{partition} is moving to {list(current.target)} already; "
                    "cancel that move first"
                )
            if keep_replication_factor and len(target) != len(current.target):
                raise InvalidReplicationFactorError(
                    f"{topic}-{partition}: the replication factor would change from "
                    f"{len(current.target)} to {len(target)}, and the request does not allow it"
                )
            if current.target == target:
                return record
            if current.moving:
                return _with(record, _replaced(current, target, throttle))
            return _with(record, current.moving_to(target, throttle))

        change(self._record(topic))
        await self._store.update_topic(topic, change)

    async def cancel(self, topic: str, partition: int, *, internal: bool = False) -> None:
        """Move ``topic-partition`` back to the replicas it had before its move.
        ``internal``: logd's own cancel (a recommission), which may cancel the drain moves
        of the topics clients cannot move (``__consumer_offsets``)."""
        if not internal:
            check_not_reserved(topic, "move")

        def change(record: TopicRecord) -> TopicRecord:
            current = _partition(record, partition)
            if not current.moving:
                raise NoReassignmentInProgressError(f"{topic}-{partition} is not moving")
            joining = set(current.adding)
            before = tuple(r for r in current.replicas if r not in joining)
            back = _settled(current).moving_to(before, current.throttle, current.throttle_follows)
            return _with(record, back if back.moving else _settled(back))

        change(self._record(topic))
        await self._store.update_topic(topic, change)

    async def balance(self, throttle: int = 0, max_moves: int = 0) -> list[PartitionMove]:
        """Start the moves, and the preferred-leader changes, that even out the replicas and
        the leaders over the live brokers not being decommissioned, by count and by bytes,
        rack-aware (``logd.cluster.balancing``); returns them (a preferred-leader change:
        neither ``adding`` nor ``removing``). ``throttle`` 0: the cluster's
        ``partition.move.throttle``, followed as it changes while the moves run."""
        if throttle < 0 or max_moves < 0:
            raise InvalidRequestError("throttle and max_moves must be >= 0")
        follows = not throttle
        throttle = throttle or self._default_throttle()
        changes = plan_changes(
            self._store.brokers(),
            self._store.topics(),
            self._store.partition_bytes,
            max_moves or BALANCE_MOVES,
        )
        started = await start_changes(self._store, changes, throttle, "balance", follows=follows)
        return [
            PartitionMove(
                c.topic, c.partition, c.target + tuple(b for b in c.seen if b not in c.target),
                tuple(b for b in c.target if b not in c.seen),
                tuple(b for b in c.seen if b not in c.target),
                throttle if c.moves else 0,
            )
            for c in started
        ]  # fmt: skip

    def list(self, topics: Sequence[str] = ()) -> list[PartitionMove]:
        """The moves in progress (of ``topics``; empty: of every topic).

        ``adding`` lists the joining replicas that are not in sync yet, as Kafka's
        ListPartitionReassignments does: a move that replaced another may name as joining a
        broker that was a voter all along (the one the old move was removing: the mover
        must treat it as joining, the group may have dropped it), which Kafka would not
        list once it is in the ISR. The metadata keeps it (``_replaced``). ``throttle``: the
        one the move applies now (the cluster's ``partition.move.throttle`` for a move that
        follows it)."""
        records = self._store.topics()
        names = sorted(topics) if topics else sorted(records)
        out = []
        for name in names:
            record = records.get(name)
            if record is None or not any(a.moving for a in record.partitions):
                continue
            merged = self._store.topic(name) or record  # with each partition's ISR
            for a in merged.partitions:
                if a.moving:
                    left = self._store.move_bytes_left(name, a.partition)
                    adding = tuple(r for r in a.adding if r not in a.isr)
                    throttle = self._default_throttle() if a.throttle_follows else a.throttle
                    out.append(
                        PartitionMove(
                            name, a.partition, a.replicas, adding, a.removing, throttle, left
                        )
                    )
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
        brokers = self._store.brokers()
        known = {b.node_id for b in brokers}
        unknown = sorted(set(target) - known)
        if unknown:
            raise InvalidReplicaAssignmentError(
                f"unknown brokers {unknown} (the cluster has {sorted(known)})"
            )
        draining = sorted(b.node_id for b in brokers if b.draining and b.node_id in target)
        if draining:
            raise InvalidReplicaAssignmentError(f"brokers {draining} are being decommissioned")


def _partition(record: TopicRecord, partition: int) -> PartitionAssignment:
    if not 0 <= partition < len(record.partitions):
        raise UnknownTopicOrPartitionError(
            f"topic {record.name!r} has no partition {partition} (it has {len(record.partitions)})"
        )
    return record.partitions[partition]


def _replaced(
    current: PartitionAssignment, target: tuple[int, ...], throttle: int
) -> PartitionAssignment:
    """``current``'s move replaced by a move to ``target`` (KRaft's shape: every broker
    hosting it now, ``target`` first; leaving: those not in ``target``). Joining: the
    target's brokers that were not voters all along -- new ones, and those the old move
    added or was removing (the group may have made them learners, or dropped them) --
    so that the mover brings each into the group as it finds it."""
    voters = set(current.target) - set(current.adding)  # before the old move and after
    moved = PartitionAssignment(current.partition, current.replicas, -1).moving_to(target, throttle)
    joining = tuple(r for r in target if r not in voters)
    return dataclasses.replace(moved, adding=joining)


def _settled(a: PartitionAssignment) -> PartitionAssignment:
    """``a`` as if its move were done: hosted on its target only."""
    target = a.target
    return PartitionAssignment(a.partition, target, target[0], 0, target)


def _with(record: TopicRecord, a: PartitionAssignment) -> TopicRecord:
    parts = list(record.partitions)
    parts[a.partition] = a
    return dataclasses.replace(record, partitions=tuple(parts))
