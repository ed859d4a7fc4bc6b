"""The balancer's changes, from the metadata to the metadata (issue 23): plan them over the
cluster as the metadata describes it (``partitioning.balance``: replicas and preferred
leaders even by count and by bytes, rack-aware), and write them, each on the condition
that the partition is still placed as it was seen.

Two kinds of change: a *move* (the partition's brokers change: an ordinary partition move
that ``logd.cluster.mover`` carries out, at most ``throttle`` bytes a second) and a
*preferred-leader change* (same brokers, another one first: nothing moves; the controller's
leader rebalance, ``auto.leader.rebalance.enable``, transfers the leadership to it).

Shared by ``logd cluster partitions balance`` (``logd.broker.moves``) and the continuous
balancer (``logd.cluster.drainer``). Holds no state; used on the broker's event loop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from logd.errors import LogdError, ReassignmentInProgressError
from logd.metadata.store import RESERVED_TOPICS, TopicRecord
from logd.metadata.types import BrokerMeta
from partitioning.balance import Part, plan_balance

__all__ = ["Change", "changing", "plan_changes", "start_changes"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """``topic-partition``, placed on ``seen``, to be placed on ``target``."""

    topic: str
    partition: int
    seen: tuple[int, ...]
    target: tuple[int, ...]

    @property
    def moves(self) -> bool:
        """Data moves (the brokers change), not only the preferred leader."""
        return set(self.target) != set(self.seen)


class _Writer(Protocol):
    async def update_topic(
        self, name: str, change: Callable[[TopicRecord], TopicRecord]
    ) -> None: ...


def plan_changes(
    brokers: Sequence[BrokerMeta],
    topics: Mapping[str, TopicRecord],
    size: Callable[[str, int], int],
    limit: int,
) -> list[Change]:
    """The balancer's changes now: over the live brokers not draining, every partition
    counted (a moving one at its target; logd's own topics never changed), ``size`` the
    bytes of a partition (as its leader reported them), at most ``limit`` moves and
    ``limit`` preferred-leader changes."""
    eligible = [b.node_id for b in brokers if b.alive and not b.draining]
    racks = {b.node_id: b.rack for b in brokers if b.rack}
    entries = [(name, a) for name in sorted(topics) for a in topics[name].partitions]
    parts = [
        Part(
            a.target if a.moving else a.replicas,
            size(name, a.partition),
            not a.moving and name not in RESERVED_TOPICS,
        )
        for name, a in entries
    ]
    plan = plan_balance(parts, eligible, racks, limit)
    return [
        Change(entries[i][0], entries[i][1].partition, entries[i][1].replicas, target)
        for i, target in (*plan.moves, *plan.leaders)
    ]


def changing(
    change: Change, throttle: int = 0, follows: bool = False
) -> Callable[[TopicRecord], TopicRecord]:
    """The metadata change that makes ``change`` (a move: its joining replicas catch up at
    most ``throttle`` bytes/s; ``follows``: the cluster's throttle as it changes), if the
    partition is still placed on ``change.seen`` with no move; raises
    ReassignmentInProgressError otherwise."""

    def apply(record: TopicRecord) -> TopicRecord:
        p = change.partition
        now = record.partitions[p] if p < len(record.partitions) else None
        if now is None or now.moving or now.replicas != change.seen:
            raise ReassignmentInProgressError(
                f"{change.topic}-{p} changed since the balancer looked at it"
            )
        if change.moves:
            new = now.moving_to(change.target, throttle, follows)
        else:
            new = dataclasses.replace(now, replicas=change.target)
        parts = list(record.partitions)
        parts[p] = new
        return dataclasses.replace(record, partitions=tuple(parts))

    return apply


async def start_changes(
    store: _Writer, changes: Sequence[Change], throttle: int, why: str, *, follows: bool = False
) -> list[Change]:
    """Write ``changes`` (moves at most ``throttle`` bytes/s; ``follows``: the cluster's
    ``partition.move.throttle`` as it changes, ``throttle`` its value now); returns those
    written."""
    started = []
    for change in changes:
        try:
            await store.update_topic(change.topic, changing(change, throttle, follows))
        except LogdError as exc:  # the topic went, the partition moved: the next round sees
            _log.info("%s: cannot change %s-%d yet: %s", why, change.topic, change.partition,
                      exc)  # fmt: skip
            continue
        what = "moving" if change.moves else "preferred leader change of"
        _log.info("%s: %s %s-%d from %s to %s", why, what, change.topic, change.partition,
                  list(change.seen), list(change.target))  # fmt: skip
        started.append(change)
    return started
