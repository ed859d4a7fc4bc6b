"""What a node hands its driver: ``Ready``, plus the soft state and status snapshots.

The persist-before-send rule lives in the type (STYLE.md 2): ``messages`` may be sent at
once, while ``messages_after_persist`` may leave only after everything this Ready asks to
persist is durable (etcd ``msgsAfterAppend``; raft-rs ``persisted_messages``).

The driver handles a Ready in this order:

1. send ``messages`` (the leader's appends may go out while its own disk writes: thesis
   §10.2.1 -- the leader counts itself only once its write is durable);
2. if ``snapshot``: reset the log to start after it (and, for a state machine, restore
   the state from ``snapshot.data``);
3. if ``truncate_to`` is not None: remove every entry at or after that offset;
4. append ``entries``; write ``hard_state`` if not None;
5. make it durable (one fsync for everything, if ``must_sync``);
6. send ``messages_after_persist``;
7. apply ``committed_entries`` (or, for a partition, publish ``commit + 1`` as the high
   watermark);
8. call ``advance(ready)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from replication.messages import Message
from replication.progress import ProgressState
from replication.raft import Role
from replication.types import ConfState, Entry, HardState, Snapshot

__all__ = ["ProgressStatus", "Ready", "SoftState", "Status"]


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting when it changes; never persisted."""

    leader: int | None
    role: Role


@dataclass(frozen=True, slots=True)
class Ready:
    """Everything the driver must do before it calls ``advance(ready)``; see the module."""

    soft_state: SoftState | None
    hard_state: HardState | None
    snapshot: Snapshot | None
    truncate_to: int | None
    entries: Sequence[Entry]
    committed_entries: Sequence[Entry]
    commit: int
    messages: Sequence[Message]
    messages_after_persist: Sequence[Message]
    must_sync: bool

    def is_empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.snapshot
            or self.entries
            or self.committed_entries
            or self.messages
            or self.messages_after_persist
        )


@dataclass(frozen=True, slots=True)
class ProgressStatus:
    """A follower's progress as its leader sees it."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool
    probe_sent: bool
    inflight: int
    is_learner: bool


@dataclass(frozen=True, slots=True)
class Status:
    """A consistent view of a node, for metrics, ``topic describe`` and tests."""

    id: int
    role: Role
    term: int
    vote: int | None
    leader: int | None
    commit: int
    applied: int
    first_offset: int
    last_offset: int
    last_term: int
    conf: ConfState
    conf_pending: bool
    transferee: int | None
    progress: Mapping[int, ProgressStatus]  # empty unless leader
    quiesced: bool = False
