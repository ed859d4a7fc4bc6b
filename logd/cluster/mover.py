"""Partition moves, the Raft side (issue 23): the leader of a moving partition walks its
group's configuration to the target (``move_plan.next_step``), then completes the move at
the controller.

The controller holds the move (``PartitionAssignment.adding/removing``); every broker that
leads a moving partition runs the steps for it, every ``interval_s``, from the group's
status -- never from a remembered state, so a new leader (after a crash, a failover of the
controller, a restart mid-way) carries on where the group is. Completing the move is one
conditional controller write: the partition's record becomes the target with no move, if
the move it saw is still the one in the metadata (a cancel in between wins). The leaving
brokers then unhost the partition and delete its data -- only now, when the new
configuration is committed.

A move's throttle (bytes a second, in the metadata) holds the joining learners' catch-up
back in the Raft core (``RawNode.throttle``, credit refilled every tick): set again at
every step, so that a new leader applies it too. A move that follows the cluster's
``partition.move.throttle`` (drain and balance moves) reads it at every step: a change at
runtime applies to the moves in progress within a step.

Ownership: one per broker, on its event loop (owned by ``ClusterRuntime``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from logd.cluster.group import RaftGroup
from logd.cluster.move_plan import StepKind, next_step
from logd.cluster.replicated import PartitionReplica
from logd.errors import LogdError
from logd.metadata.store import PartitionAssignment, TopicRecord
from replication import RaftError, Role

__all__ = ["PartitionMover", "completed"]

_log = logging.getLogger(__name__)


class _TopicWriter(Protocol):
    async def update_topic(
        self, name: str, change: Callable[[TopicRecord], TopicRecord]
    ) -> None: ...


def completed(record: TopicRecord, partition: int, seen: PartitionAssignment) -> TopicRecord:
    """``record`` with the move ``seen`` of ``partition`` completed (unchanged when the
    metadata holds another move, or none, by now)."""
    parts = list(record.partitions)
    now = parts[partition] if partition < len(parts) else None
    if now is None or now.move != seen.move:
        return record
    target = seen.target
    parts[partition] = PartitionAssignment(partition, target, target[0], 0, target)
    return dataclasses.replace(record, partitions=tuple(parts))


class PartitionMover:
    """Runs the steps of every move led here; see the module doc."""

    def __init__(
        self,
        led: Callable[[], Iterable[PartitionReplica]],
        store: Callable[[], _TopicWriter | None],
        touched: Callable[[RaftGroup], None],
        *,
        interval_s: float = 0.1,
        tick_s: float = 0.05,
        cluster_throttle: Callable[[], int] = int,
    ) -> None:
        self._led = led
        #: The cluster's ``partition.move.throttle`` now (bytes/s): moves that follow it.
        self._cluster_throttle = cluster_throttle
        self._store = store
        self._touched = touched
        self.interval_s = interval_s
        self.tick_s = tick_s  # the Raft tick: a throttle is counted in bytes a tick
        #: Moves whose completion is being written: (topic, partition) -> the move seen.
        self._completing: dict[tuple[str, int], PartitionAssignment] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            for replica in list(self._led()):
                self.step(replica)

    def step(self, replica: PartitionReplica) -> None:
        """One step of ``replica``'s move, if its partition moves and this broker leads."""
        partition, group = replica.partition, replica.group
        if partition is None or group is None or group.node.role is not Role.LEADER:
            return
        assignment = partition.assignment
        if not assignment.moving:
            return
        node = group.node
        status = node.status()
        step = next_step(status, frozenset(assignment.target))
        try:
            self.throttle(replica)
            if step.kind is StepKind.CHANGE:
                _log.info("%s: move: %s", replica.name, step.why)
                node.propose_conf_change(step.changes)
                self.throttle(replica)  # the learners just added, before their first append
                self._touched(group)
            elif step.kind is StepKind.TRANSFER:
                assert step.to is not None
                _log.info("%s: move: %s", replica.name, step.why)
                node.transfer_leadership(step.to)
                self._touched(group)
            elif step.kind is StepKind.DONE:
                self._complete(replica.key, assignment)
        except RaftError as exc:  # a refusal (not caught up, not leader): next round
            _log.debug("%s: move step refused: %s", replica.name, exc)

    def throttle(self, replica: PartitionReplica) -> None:
        """Hold the joining learners of ``replica``'s move (led here) to its throttle, the
        other learners to none."""
        partition, group = replica.partition, replica.group
        if partition is None or group is None or group.node.role is not Role.LEADER:
            return
        assignment = partition.assignment
        throttle = assignment.throttle if assignment.moving else 0
        if assignment.moving and assignment.throttle_follows:
            throttle = self._cluster_throttle()
        rate = max(1, int(throttle * self.tick_s)) if throttle else 0
        adding = set(assignment.adding)
        for learner in group.node.conf.learners:
            group.node.throttle(learner, rate if learner in adding else 0)

    def _complete(self, key: tuple[str, int], seen: PartitionAssignment) -> None:
        if self._completing.get(key) == seen:
            return
        store = self._store()
        if store is None:
            return
        self._completing[key] = seen
        topic, partition = key

        async def write() -> None:
            try:
                await store.update_topic(topic, lambda r: completed(r, partition, seen))
                _log.info("%s-%d: move to %s completed", topic, partition, list(seen.target))
            except LogdError as exc:
                _log.warning("%s-%d: cannot complete the move yet: %s", topic, partition, exc)
            finally:
                if self._completing.get(key) == seen:
                    del self._completing[key]

        task = asyncio.get_running_loop().create_task(write(), name=f"move-{topic}-{partition}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
