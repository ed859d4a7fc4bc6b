"""The core's vocabulary: log entries, hard state, snapshots and configurations.

An entry covers an offset range ``[base_offset, last_offset]`` and carries the term of the
leader that created it (DESIGN.md principle 3: a Kafka record batch whose
``partitionLeaderEpoch`` is the term).  Offsets of a Raft log are contiguous; ``-1`` is the
offset "before the first entry" of a log that starts at 0, and its term is 0.

Invariant: within one term only one leader assigns offsets, so (term, offset) names one
entry everywhere: two logs that have the same term at an offset hold the same entry there,
with the same bounds (the log matching property, Raft §5.3, for offset ranges).

All types are immutable.  ``Entry`` is a ``NamedTuple`` rather than a frozen dataclass
because one is made per proposal on the hot path and tuples are several times cheaper to
build; everything else is a frozen dataclass (STYLE.md 12).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from replication.errors import DecodeError

__all__ = [
    "ConfState",
    "Entry",
    "EntryId",
    "EntryKind",
    "HardState",
    "InitialState",
    "Snapshot",
    "SnapshotMeta",
]


class EntryKind(enum.IntEnum):
    """What an entry is; the driver writes every kind but NORMAL as a control batch."""

    NORMAL = 0
    LEADER_CHANGE = 1  # the first entry of a new leader (Raft §8; Kafka's LeaderChangeMessage)
    CONF_CHANGE = 2  # data is ConfState.encode() of the configuration it installs


class Entry(NamedTuple):
    """One log entry: a record batch covering ``[base_offset, last_offset]``.

    ``data`` is opaque to the core (bytes or a memoryview of the driver's buffer): it is
    never copied, sliced or inspected, except the core's own CONF_CHANGE entries.
    """

    term: int
    base_offset: int
    last_offset: int
    kind: EntryKind
    data: bytes | bytearray | memoryview


class EntryId(NamedTuple):
    """Where a proposal landed: the offsets the leader assigned and its term."""

    base_offset: int
    last_offset: int
    term: int


@dataclass(frozen=True, slots=True)
class HardState:
    """What a node must persist before its dependent messages leave (Raft Figure 2).

    ``term`` and ``vote`` must be durable before ``Ready.messages_after_persist`` are sent.
    ``commit`` may be persisted lazily: on restart it is clamped to the durable log end.
    """

    term: int = 0
    vote: int | None = None
    commit: int = -1


_CONF_HEADER = struct.Struct(">BHHHH")
_CONF_ID = struct.Struct(">i")
_CONF_VERSION = 1


@dataclass(frozen=True, slots=True)
class ConfState:
    """A cluster configuration (Raft §6 and thesis §4).

    ``voters_outgoing`` is non-empty only in a joint configuration C_old,new (then
    ``voters`` is C_new and ``voters_outgoing`` C_old).  ``learners`` receive the log but do
    not vote.  ``learners_next`` are voters of C_old that become learners when the joint
    configuration is left (etcd's ``LearnersNext``).
    """

    voters: frozenset[int] = field(default_factory=frozenset)
    voters_outgoing: frozenset[int] = field(default_factory=frozenset)
    learners: frozenset[int] = field(default_factory=frozenset)
    learners_next: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        voters: frozenset[int] | set[int] | list[int] | tuple[int, ...],
        learners: frozenset[int] | set[int] | list[int] | tuple[int, ...] = (),
    ) -> ConfState:
        """A simple (non-joint) configuration."""
        return cls(voters=frozenset(voters), learners=frozenset(learners))

    @property
    def joint(self) -> bool:
        return bool(self.voters_outgoing)

    def is_voter(self, node_id: int) -> bool:
        """True if the node votes in either half of the configuration."""
        return node_id in self.voters or node_id in self.voters_outgoing

    def all_voters(self) -> frozenset[int]:
        return self.voters | self.voters_outgoing

    def members(self) -> frozenset[int]:
        """Every node that receives the log: voters of both halves and all learners."""
        return self.voters | self.voters_outgoing | self.learners | self.learners_next

    def encode(self) -> bytes:
        """The payload of a CONF_CHANGE entry; ids are int32 as Kafka broker ids are."""
        groups = (self.voters, self.voters_outgoing, self.learners, self.learners_next)
        parts = [_CONF_HEADER.pack(_CONF_VERSION, *(len(g) for g in groups))]
        for group in groups:
            parts.extend(_CONF_ID.pack(node_id) for node_id in sorted(group))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> ConfState:
        """Inverse of :meth:`encode`; raises :class:`DecodeError` on malformed bytes."""
        view = memoryview(data)
        if len(view) < _CONF_HEADER.size:
            raise DecodeError(f"configuration of {len(view)} bytes is shorter than its header")
        version, *counts = _CONF_HEADER.unpack_from(view, 0)
        if version != _CONF_VERSION:
            raise DecodeError(f"unknown configuration encoding version {version}")
        expected = _CONF_HEADER.size + _CONF_ID.size * sum(counts)
        if len(view) != expected:
            raise DecodeError(f"configuration is {len(view)} bytes, its header says {expected}")
        groups: list[frozenset[int]] = []
        pos = _CONF_HEADER.size
        for count in counts:
            ids = [_CONF_ID.unpack_from(view, pos + i * _CONF_ID.size)[0] for i in range(count)]
            pos += count * _CONF_ID.size
            groups.append(frozenset(ids))
        return cls(*groups)

    def __str__(self) -> str:
        def fmt(ids: frozenset[int]) -> str:
            return ",".join(str(i) for i in sorted(ids))

        text = f"voters=({fmt(self.voters)})"
        if self.voters_outgoing:
            text += f"&&({fmt(self.voters_outgoing)})"
        if self.learners:
            text += f" learners=({fmt(self.learners)})"
        if self.learners_next:
            text += f" learners_next=({fmt(self.learners_next)})"
        return text


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """The point a snapshot covers: everything up to ``offset`` (of term ``term``)."""

    offset: int
    term: int
    conf_state: ConfState


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state-machine snapshot; ``data`` is empty for a partition (metadata only)."""

    meta: SnapshotMeta
    data: bytes | bytearray | memoryview = b""


@dataclass(frozen=True, slots=True)
class InitialState:
    """What a node restarts from, as its storage reports it.

    ``conf_states`` lists (offset, configuration) in offset order: the configuration in
    force at the storage's snapshot point (or at the last persisted commit), and every
    CONF_CHANGE entry of the log after it.  A node that was never part of a group (it will
    be added as a learner) starts with no configuration at all.
    """

    hard_state: HardState = field(default_factory=HardState)
    conf_states: tuple[tuple[int, ConfState], ...] = ()
