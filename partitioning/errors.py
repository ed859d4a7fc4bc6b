"""Errors of the pure placement logic.

``partitioning/`` must not import ``logd`` (DESIGN.md layout), so it cannot raise
``logd.errors`` classes.  It raises these instead, all :class:`ValueError` subclasses; the
one ``logd`` boundary that calls into this package (admin handlers, the client, the group
coordinator) translates them to wire errors, e.g. :class:`InvalidReplicationFactor` to
``INVALID_REPLICATION_FACTOR`` and :class:`ProtocolDecodeError` to
``INCONSISTENT_GROUP_PROTOCOL`` (STYLE.md 11: translate at one boundary only).

Broken invariants inside this package are ``assert``s, never one of these.
"""

from __future__ import annotations

__all__ = [
    "InvalidPartitionCount",
    "InvalidReplicaAssignment",
    "InvalidReplicationFactor",
    "PartitionOutOfRange",
    "PartitioningError",
    "ProtocolDecodeError",
    "ProtocolEncodeError",
]


class PartitioningError(ValueError):
    """Base class: an input this package cannot place, assign or decode."""


class InvalidPartitionCount(PartitioningError):
    """A partition count below 1 where at least one partition is needed."""


class PartitionOutOfRange(PartitioningError):
    """An explicit partition outside ``[0, num_partitions)``."""


class InvalidReplicationFactor(PartitioningError):
    """A replication factor below 1 or above the number of brokers."""


class InvalidReplicaAssignment(PartitioningError):
    """An existing replica assignment that is inconsistent (duplicates, mixed sizes...)."""


class ProtocolDecodeError(PartitioningError):
    """Bytes that are not a valid ConsumerProtocol subscription or assignment."""


class ProtocolEncodeError(PartitioningError):
    """A subscription or assignment that the ConsumerProtocol format cannot carry."""
