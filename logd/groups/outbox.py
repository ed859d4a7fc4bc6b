"""What the core has decided and the driver has not yet been told: answers and writes.

The persist-before-answer rule is in the types (STYLE.md 2): :class:`Ready` carries
``responses`` the driver may send now and ``writes`` it must append to the group's
``__consumer_offsets`` partition. An answer that depends on a write (an offset commit, the
leader's SyncGroup, a static member's rejoin, a delete) is not in any ``Ready`` until the
driver reports that write durable (or failed) — it waits here, as a callback keyed by the
write id.

A write the log *refused* (the append itself failed: the records never reached the log)
first runs its ``on_refused`` undo, if it has one: the core takes back what it changed in
memory for it, so that memory never runs ahead of the log (Kafka's coordinator reverts its
timeline state to the last written offset the same way). A write that reached the log but
was not committed in time is only *failed*: its records may still commit, so memory keeps
what the log holds (a lost leadership unloads the coordinator instead).

Not thread-safe; owned by its coordinator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from logd.errors import ErrorCode
from logd.groups.messages import Body, Response

__all__ = ["OffsetsRecord", "OnDurable", "Outbox", "Ready", "Write"]


@dataclass(frozen=True, slots=True)
class OffsetsRecord:
    """One record for ``__consumer_offsets``: ``value`` None is a tombstone."""

    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Write:
    """Records to append, in order, as one batch; report the outcome with ``write_id``."""

    write_id: int
    records: tuple[OffsetsRecord, ...]


@dataclass(frozen=True, slots=True)
class Ready:
    """Hand-off to the driver. Append ``writes`` in this order (after those of earlier
    ``Ready``s); send ``responses`` now — none of them waits for these writes."""

    responses: tuple[Response, ...] = ()
    writes: tuple[Write, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.responses or self.writes)


OnDurable = Callable[[ErrorCode], None]
"""Called once with NONE when a write is durable, else with the storage error."""


class Outbox:
    """Answers and writes waiting for the driver, plus what waits on each write.

    Invariant: every request id accepted is answered exactly once.
    """

    __slots__ = ("_in_flight", "_next_write_id", "_responses", "_undo", "_waiting", "_writes")

    def __init__(self) -> None:
        self._responses: list[Response] = []
        self._writes: list[Write] = []
        self._waiting: dict[int, OnDurable] = {}
        self._undo: dict[int, OnDurable] = {}
        self._in_flight: dict[int, None] = {}
        self._next_write_id = 1

    def accept(self, request_id: int) -> None:
        assert request_id not in self._in_flight, f"request id {request_id} is in use"
        self._in_flight[request_id] = None

    def respond(self, request_id: int, body: Body) -> None:
        assert request_id in self._in_flight, f"request {request_id} answered twice"
        del self._in_flight[request_id]
        self._responses.append(Response(request_id, body))

    def in_flight(self) -> tuple[int, ...]:
        """Request ids accepted and not answered yet (parked or waiting for a write)."""
        return tuple(self._in_flight)

    def write(
        self,
        records: tuple[OffsetsRecord, ...],
        on_durable: OnDurable,
        on_refused: OnDurable | None = None,
    ) -> int:
        """Queue ``records``; ``on_durable`` hears the outcome, ``on_refused`` (before it)
        undoes the write's changes if the log refuses it."""
        write_id = self._next_write_id
        self._next_write_id += 1
        self._writes.append(Write(write_id, records))
        self._waiting[write_id] = on_durable
        if on_refused is not None:
            self._undo[write_id] = on_refused
        return write_id

    def drop_unsent_writes(self) -> None:
        """Forget writes not yet handed to the driver (their waiters still wait)."""
        self._writes.clear()

    def writes_waiting(self) -> tuple[int, ...]:
        return tuple(self._waiting)

    def complete(self, write_id: int, error: ErrorCode, *, refused: bool = False) -> bool:
        """Run what waited on ``write_id`` -- after its undo when the log ``refused`` it;
        False when the id is unknown (already done)."""
        undo = self._undo.pop(write_id, None)
        on_durable = self._waiting.pop(write_id, None)
        if on_durable is None:
            return False
        if refused and undo is not None:
            undo(error)
        on_durable(error)
        return True

    def take(self) -> Ready:
        if not self._responses and not self._writes:
            return Ready()
        ready = Ready(tuple(self._responses), tuple(self._writes))
        self._responses.clear()
        self._writes.clear()
        return ready
