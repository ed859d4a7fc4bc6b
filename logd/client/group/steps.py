"""What the membership machine (:mod:`~logd.client.group.machine`) asks for: the steps of a
rebalance round, the effects of an input, and the errors whose effect is to look the
coordinator up again (shared with :mod:`~logd.client.group.link`).

A step is executed by the I/O shell (:mod:`~logd.client.group.membership`, or a test's
in-process pair) and its outcome fed back to the machine; steps compare by identity, so the
machine accepts only the outcome of the step it waits for. Frozen values; any thread.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Final, TypeAlias

from logd.client.types import PartitionKey, TopicPartition
from logd.errors import (
    BrokerUnavailableError,
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NetworkError,
    NotCoordinatorError,
    RequestTimedOutError,
)
from logd.groups.messages import JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest

__all__ = [
    "COORDINATOR_MOVED",
    "RETRY_ON",
    "AppStep",
    "Effect",
    "EventKind",
    "FetchCommitted",
    "LeaveForPollTimeout",
    "LookUpPartitions",
    "MetadataCheck",
    "SendJoin",
    "SendSync",
    "Step",
]

#: Errors after which the coordinator must be looked up again.
COORDINATOR_MOVED: Final = (NotCoordinatorError, CoordinatorNotAvailableError, NetworkError,
                            RequestTimedOutError, BrokerUnavailableError)  # fmt: skip
#: Errors a one-shot group call retries (the coordinator moving, or still loading).
RETRY_ON: Final = (*COORDINATOR_MOVED, CoordinatorLoadInProgressError)


class EventKind(enum.Enum):
    """What a step the application serves does to its partitions."""

    ASSIGN = "assign"  # take them (at their committed offsets), then ``on_assign``
    REVOKE = "revoke"  # commit their positions, ``on_revoke``, stop reading them
    LOST = "lost"  # ``on_lost`` (the group already gave them to others): no commit


class Effect(enum.Flag):
    """What the shell does after an input, beside the next step."""

    NONE = 0
    WAKE = enum.auto()  # a round is due: wake the rebalance task
    BACK_OFF = enum.auto()  # wait ``retry_backoff_ms`` before the next step
    FORGET_COORDINATOR = enum.auto()  # look the coordinator up again
    HEARTBEAT_NOW = enum.auto()  # a new generation: heartbeat at once
    NOTIFY = enum.auto()  # :attr:`MemberMachine.fatal` is set: wake the application
    VOID = enum.auto()  # steps the application has not served belong to no round now


# -- the steps of a round (compared by identity: eq=False) ----------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class AppStep:
    """The application serves ``kind`` for ``partitions`` (sorted; an ASSIGN's carry the
    offsets to start at: the committed offset, or ``OFFSET_STORED`` for the reset policy)."""

    kind: EventKind
    partitions: tuple[TopicPartition, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class SendJoin:
    request: JoinGroupRequest


@dataclasses.dataclass(frozen=True, eq=False)
class LookUpPartitions:
    """The leader needs the partition counts of ``topics`` (the cluster may lack some)."""

    topics: frozenset[str]


@dataclasses.dataclass(frozen=True, eq=False)
class SendSync:
    request: SyncGroupRequest


@dataclasses.dataclass(frozen=True, eq=False)
class FetchCommitted:
    partitions: tuple[PartitionKey, ...]


Step: TypeAlias = AppStep | SendJoin | LookUpPartitions | SendSync | FetchCommitted


@dataclasses.dataclass(frozen=True)
class LeaveForPollTimeout:
    """The application has not polled for ``idle_s``: send ``leave`` (None for a static
    member, whose absence moves nothing until its session times out) and void its steps."""

    leave: LeaveGroupRequest | None
    idle_s: float
    effects: Effect = Effect.VOID


@dataclasses.dataclass(frozen=True)
class MetadataCheck:
    """Look at the cluster's topic names (a pattern subscription) and/or at the partition
    counts of ``counts_of`` (the leader's topics)."""

    topic_names: bool
    counts_of: frozenset[str]
