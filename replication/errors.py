"""Expected failures of the Raft core, raised to the driver that owns the node.

``replication/`` imports nothing of ``logd`` (DESIGN.md principle 4), so these are not
``logd.errors.LogdError`` subclasses: the driver translates them at its one boundary
(STYLE.md 11) -- ``NotLeaderError`` becomes ``NotLeaderOrFollowerError`` (or
``NotControllerError``), the others ``InvalidRequestError`` or a retriable error as their
``retriable`` flag says.  Broken invariants inside the core are ``assert``s, never these.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfChangeError",
    "DecodeError",
    "InvalidConfigError",
    "InvalidMessageError",
    "InvalidProposalError",
    "NotLeaderError",
    "ProposalDroppedError",
    "RaftError",
]


class RaftError(Exception):
    """Base of every expected failure of the core; ``str(err)`` is one line for a person."""

    retriable: ClassVar[bool] = False


class NotLeaderError(RaftError):
    """The node is not the leader; ``leader`` is the leader it knows of, if any."""

    retriable = True

    def __init__(self, message: str, leader: int | None) -> None:
        super().__init__(message)
        self.leader = leader


class ProposalDroppedError(RaftError):
    """The leader cannot take a proposal right now (leadership transfer, removal, ...)."""

    retriable = True


class ConfChangeError(RaftError):
    """A configuration change that is invalid, or not allowed in the current state."""


class InvalidProposalError(RaftError):
    """A proposal that can never be accepted (a record count below 1, say)."""


class InvalidConfigError(RaftError):
    """A node configuration that makes no sense (zero election ticks, say)."""


class InvalidMessageError(RaftError):
    """A message that breaks the protocol's structure (non-contiguous entries, say)."""


class DecodeError(RaftError):
    """Bytes that are not a valid encoding of a core structure (a configuration)."""
