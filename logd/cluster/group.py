"""One Raft group as the driver holds it (:class:`RaftGroup`), and what the driver talks to
on either side of it: the group's owner (:class:`GroupListener`: a partition's replica, the
controller's store) and the peers (:class:`Transport`).

Ownership: a :class:`RaftGroup` is created, mutated and dropped by the driver
(``driver.py``) and its write path (``ready_writer.py``) on the broker's event loop; owners
keep a reference to call ``driver.propose``/``touched`` with and read ``node`` from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final, Protocol

from logd.cluster.codec import GroupMessage
from logd.cluster.partition_log import PartitionLog
from logd.errors import LogdError
from replication import Entry, RawNode, Ready, Role, Snapshot

__all__ = [
    "WRITE_RETRY_MAX_S",
    "WRITE_RETRY_MIN_S",
    "GroupListener",
    "InFlight",
    "RaftGroup",
    "Transport",
]

#: A Ready whose write failed (or is held back) is tried again after this, doubling.
WRITE_RETRY_MIN_S: Final = 0.05
WRITE_RETRY_MAX_S: Final = 1.0


class GroupListener(Protocol):
    """What a group's owner hears (on the loop, synchronously)."""

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None: ...

    def on_commit(self, commit: int) -> None: ...

    def on_apply(self, entries: Sequence[Entry]) -> None: ...

    def on_snapshot(self, snapshot: Snapshot) -> None: ...

    def on_storage_error(self, error: LogdError) -> None:
        """Reading the group's log failed (a damaged batch): the group has stopped."""
        ...

    def on_write_failed(self, error: str) -> None:
        """A write of the group's log, side file or journal failed and was undone (EIO,
        ENOSPC ...); the driver tries it again with backoff. Said once per episode."""
        ...


class Transport(Protocol):
    """Carries frames between brokers (``transport.GrpcTransport``, or a test's).
    ``losses`` names, per peer, the groups it leads in which we lost acknowledged entries."""

    def send(
        self,
        outgoing: dict[int, list[GroupMessage]],
        losses: dict[int, list[tuple[str, int]]],
    ) -> None: ...


class InFlight:
    """A Ready in flight and whether the storage said it is durable."""

    __slots__ = ("durable", "ready")

    def __init__(self, ready: Ready) -> None:
        self.ready = ready
        self.durable = False


class RaftGroup:
    """One group on this broker: its node, storage and listener. Owned by the driver."""

    __slots__ = (
        "abstaining",
        "announced",
        "closed",
        "exempt",
        "failed",
        "flight",
        "leader_commit",
        "listener",
        "name",
        "node",
        "peers",
        "published",
        "retry_at",
        "retry_s",
        "storage",
        "unwritten",
        "write_error",
        "write_failed",
    )

    def __init__(
        self, name: str, node: RawNode, storage: PartitionLog, listener: GroupListener
    ) -> None:
        self.name = name
        self.node = node
        self.storage = storage
        self.listener = listener
        #: The peers this group is indexed under (``RaftDriver._by_peer``).
        self.peers: frozenset[int] = frozenset()
        #: Readys written (or being retried) and not finished, oldest first, each with
        #: whether it is durable yet: several with ``Config.async_writes`` (etcd's
        #: asynchronous storage writes), finished strictly in this order.
        self.flight: deque[InFlight] = deque()
        self.announced: tuple[int | None, int, Role] | None = None
        self.closed = False
        self.failed = False
        #: Lost acknowledged data: no votes until caught up with a leader's commit.
        self.abstaining = storage.lost_data
        self.leader_commit = -1
        #: The commit offset the listener last heard.
        self.published = -1
        #: The Ready in flight is not written yet (its write failed, or is held back).
        self.unwritten = False
        self.retry_at = 0.0
        self.retry_s = WRITE_RETRY_MIN_S
        #: Why the last write failed (said once per episode); None while writes succeed.
        self.write_error: str | None = None
        #: The write failed (an I/O error), rather than being held back below the reserve.
        self.write_failed = False
        #: May write into the free-space reserve (the controller's metadata log).
        self.exempt = False

    @property
    def inflight(self) -> Ready | None:
        """The newest Ready in flight (the one a failed write retries), if any."""
        return self.flight[-1].ready if self.flight else None

    def hold(self, rd: Ready) -> None:
        """``rd`` is in flight from now on (written, or its write to be retried)."""
        if not self.flight or self.flight[-1].ready is not rd:
            self.flight.append(InFlight(rd))

    def holds(self, rd: Ready) -> bool:
        return any(item.ready is rd for item in self.flight)

    def take_durable(self, rd: Ready) -> list[Ready]:
        """``rd`` is durable: the Readys that may be finished now, in order -- those at
        the head of the flight that are all durable (a later one waits for the earlier)."""
        for item in self.flight:
            if item.ready is rd:
                item.durable = True
                break
        done: list[Ready] = []
        flight = self.flight
        while flight and flight[0].durable:
            done.append(flight.popleft().ready)
        return done
