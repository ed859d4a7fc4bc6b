"""Raft as a pure state machine (DESIGN.md principle 4).

Imports nothing of gRPC, asyncio, ``time``, ``random``, the OS or ``logd``.  The driver
owns a :class:`RawNode` per Raft group, feeds it messages and ticks, and carries out the
:class:`Ready` it hands back (see ``ready.py`` for the order).  ``docs/replication.md``
describes the API for driver authors.
"""

from replication.confchange import ConfChange, ConfChangeType
from replication.config import Config
from replication.errors import (
    ConfChangeError,
    DecodeError,
    InvalidConfigError,
    InvalidMessageError,
    InvalidProposalError,
    NotLeaderError,
    ProposalDroppedError,
    RaftError,
)
from replication.memory_storage import MemoryStorage
from replication.messages import (
    AppendRequest,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
    SnapshotRequest,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from replication.progress import ProgressState
from replication.raft import Role
from replication.rawnode import RawNode
from replication.ready import ProgressStatus, Ready, SoftState, Status
from replication.storage import LogStorage
from replication.types import (
    ConfState,
    Entry,
    EntryId,
    EntryKind,
    HardState,
    InitialState,
    Snapshot,
    SnapshotMeta,
)

__all__ = [
    "AppendRequest",
    "AppendResponse",
    "ConfChange",
    "ConfChangeError",
    "ConfChangeType",
    "ConfState",
    "Config",
    "DecodeError",
    "Entry",
    "EntryId",
    "EntryKind",
    "HardState",
    "Heartbeat",
    "HeartbeatResponse",
    "InitialState",
    "InvalidConfigError",
    "InvalidMessageError",
    "InvalidProposalError",
    "LogStorage",
    "MemoryStorage",
    "Message",
    "NotLeaderError",
    "ProgressState",
    "ProgressStatus",
    "ProposalDroppedError",
    "RaftError",
    "RawNode",
    "Ready",
    "Role",
    "Snapshot",
    "SnapshotMeta",
    "SnapshotRequest",
    "SoftState",
    "Status",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]
