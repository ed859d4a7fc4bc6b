"""What a STOMP subscription delivered and what its client acknowledged: the window of
unacknowledged messages (``http.stomp.max.unacked`` pauses reading) and, per partition, the
offset the subscription's group may commit -- the first message not acknowledged yet, or
the position after everything read.

Ack modes (STOMP 1.2): ``auto`` (nothing to acknowledge: what is written counts),
``client`` (an ACK acknowledges its message and every earlier one of the subscription,
in delivery order), ``client-individual`` (its message alone). A NACK takes messages out of
the window like an ACK but leaves them uncommitted: the group's offset stops before the
first of them, so the next subscription of the group reads them again.

Pure; one per subscription.
"""

from __future__ import annotations

import collections
from typing import Final

__all__ = ["ACK_MODES", "AckTracker"]

ACK_MODES: Final = ("auto", "client", "client-individual")


class AckTracker:
    """See the module docstring."""

    def __init__(self, mode: str) -> None:
        if mode not in ACK_MODES:
            raise ValueError(f"ack {mode!r} is not one of {', '.join(ACK_MODES)}")
        self.mode = mode
        #: ack id -> (partition, offset), in delivery order: the window
        self._unacked: collections.OrderedDict[str, tuple[int, int]] = collections.OrderedDict()
        #: partition -> offsets delivered and not acknowledged (NACKed ones too), ascending
        self._pending: dict[int, dict[int, None]] = {}
        #: partition -> the position after everything delivered from it
        self._read_end: dict[int, int] = {}
        self.changes = 0  # grows with every change of a commit point (commits coalesce on it)

    @property
    def outstanding(self) -> int:
        return len(self._unacked)

    def start(self, partition: int, position: int) -> None:
        self._read_end[partition] = position

    def delivered(self, ack_id: str | None, partition: int, offset: int) -> None:
        if self.mode != "auto" and ack_id is not None:
            self._unacked[ack_id] = (partition, offset)
            self._pending.setdefault(partition, {})[offset] = None
        self.read_to(partition, offset + 1)

    def read_to(self, partition: int, position: int) -> None:
        if position > self._read_end.get(partition, -1):
            self._read_end[partition] = position
            if self.mode == "auto" or not self._pending.get(partition):
                self.changes += 1

    def ack(self, ack_id: str) -> bool:
        """False: ``ack_id`` is not waiting (never given, or acknowledged already)."""
        taken = self._take(ack_id)
        for partition, offset in taken:
            self._pending[partition].pop(offset, None)
        if taken:
            self.changes += 1
        return bool(taken)

    def nack(self, ack_id: str) -> bool:
        return bool(self._take(ack_id))

    def _take(self, ack_id: str) -> list[tuple[int, int]]:
        if ack_id not in self._unacked:
            return []
        if self.mode == "client-individual":
            return [self._unacked.pop(ack_id)]
        taken = []
        while self._unacked:
            key, where = self._unacked.popitem(last=False)
            taken.append(where)
            if key == ack_id:
                break
        return taken

    def commit_points(self) -> dict[int, int]:
        """partition -> the next offset the group may commit."""
        out = {}
        for partition, end in self._read_end.items():
            pending = self._pending.get(partition)
            out[partition] = next(iter(pending)) if pending else end
        return out
