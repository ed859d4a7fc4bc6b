"""The history of a fault run: every operation a client made, with its times and outcome.

Jepsen's model (Kingsbury's analyses of Kafka, Redpanda and NATS JetStream): each operation
is *invoked* at one instant and *completes* at a later one (both ``time.monotonic()``
seconds); between the two the system may apply it at any moment. Its outcome is

* ``OK`` — the system answered that it happened (a produce acknowledged with its offset);
* ``FAILED`` — it definitely did not happen (refused for its content, never sent);
* ``UNKNOWN`` — indeterminate: a timeout, a broken connection, a broker killed mid-answer.
  It may or may not have happened, now or later.

Kinds: ``PRODUCE`` (one unique value to one partition), ``POLL`` (records one consumer
session took from one partition in one call), ``COMMIT`` (a group's offset for a partition),
``COMMITTED`` (a read of a group's committed offset, e.g. at the end) and ``FINAL_READ``
(every record of one partition as one replica holds it, read after the faults healed).

Pure: no I/O. :class:`History` is the recorder the workload threads share (one lock);
:class:`Op` values are immutable. ``to_jsonl``/``from_jsonl`` turn a history into text and
back, so a failing run's history can be written next to its brokers' logs and re-checked.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

__all__ = ["History", "Kind", "Op", "Outcome", "Pending", "Record", "ops_of"]


class Kind(enum.Enum):
    PRODUCE = "produce"
    POLL = "poll"
    COMMIT = "commit"
    COMMITTED = "committed"
    FINAL_READ = "final-read"


class Outcome(enum.Enum):
    OK = "ok"
    #: Definitely not applied.
    FAILED = "failed"
    #: Indeterminate: may have been applied, now or later.
    UNKNOWN = "unknown"


#: One record as read: (offset, value).
Record = tuple[int, bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class Op:
    """One completed operation. Which fields mean something depends on ``kind``:

    * PRODUCE: ``topic``, ``partition``, ``value``; ``offset`` once OK (-1 when the client
      acknowledged it without one: librdkafka's idempotent producer does so for a batch
      whose answer was lost once a later batch's success proved it persisted).
    * POLL: ``topic``, ``partition``, ``session`` (one consumer's continuous ownership of
      the partition), ``records`` in the order the consumer got them.
    * COMMIT: ``group``, ``topic``, ``partition``, ``offset`` (the next offset to read).
    * COMMITTED: ``group``, ``topic``, ``partition``, ``offset`` (-1: nothing committed).
    * FINAL_READ: ``topic``, ``partition``, ``replica``, ``records`` (data records only:
      offsets missing between them are gaps, e.g. control batches), ``offset`` the end
      the replica reported (its high watermark or log end; -1 when unknown). A final
      read that is not OK could not read the replica (``error`` says why).
    """

    process: str
    kind: Kind
    invoke: float
    complete: float
    outcome: Outcome
    topic: str = ""
    partition: int = -1
    value: bytes = b""
    offset: int = -1
    records: tuple[Record, ...] = ()
    session: str = ""
    group: str = ""
    replica: str = ""
    error: str = ""

    def __post_init__(self) -> None:
        assert self.complete >= self.invoke, f"completes before it is invoked: {self}"

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"process": self.process, "kind": self.kind.value,
                               "invoke": self.invoke, "complete": self.complete,
                               "outcome": self.outcome.value}  # fmt: skip
        for f in dataclasses.fields(self)[5:]:
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        if self.value:
            out["value"] = self.value.decode("latin-1")
        if self.records:
            out["records"] = [[o, v.decode("latin-1")] for o, v in self.records]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Op:
        fields = dict(data)
        fields["kind"] = Kind(fields["kind"])
        fields["outcome"] = Outcome(fields["outcome"])
        if "value" in fields:
            fields["value"] = fields["value"].encode("latin-1")
        if "records" in fields:
            fields["records"] = tuple((o, v.encode("latin-1")) for o, v in fields["records"])
        return cls(**fields)


class Pending:
    """An invoked operation; :meth:`complete` records it once (a second completion, e.g. a
    late callback after :meth:`History.close` gave up on it, is ignored)."""

    __slots__ = ("_done", "_fields", "_history", "invoke")

    def __init__(self, history: History, invoke: float, fields: dict[str, Any]) -> None:
        self._history = history
        self.invoke = invoke
        self._fields = fields
        self._done = False

    def complete(self, outcome: Outcome, **fields: Any) -> Op | None:
        """Record the outcome; None if this operation was already completed."""
        op = Op(invoke=self.invoke, complete=self._history.now(), outcome=outcome,
                **self._fields, **fields)  # fmt: skip
        return op if self._history._finish(self, op) else None


class History:
    """The operations of one run. Thread-safe: workload threads record into it at once.

    ``clock`` gives monotonic seconds (``time.monotonic`` in a run, a counter in tests).
    Operations invoked and never completed (the run ended first) are completed UNKNOWN
    by :meth:`close`.
    """

    def __init__(self, clock: Callable[[], float], ops: Iterable[Op] = ()) -> None:
        self.now = clock
        self._lock = threading.Lock()
        self._ops: list[Op] = list(ops)
        self._open: set[Pending] = set()
        self.closed = False

    def invoke(self, process: str, kind: Kind, **fields: Any) -> Pending:
        pending = Pending(self, self.now(), {"process": process, "kind": kind, **fields})
        with self._lock:
            self._open.add(pending)
        return pending

    def add(self, op: Op) -> None:
        """Record an operation built elsewhere (a final read, say)."""
        with self._lock:
            self._ops.append(op)

    def _finish(self, pending: Pending, op: Op) -> bool:
        with self._lock:
            if pending._done:
                return False
            pending._done = True
            self._open.discard(pending)
            self._ops.append(op)
            return True

    def close(self) -> int:
        """Complete every operation still open as UNKNOWN; returns how many there were."""
        with self._lock:
            left = list(self._open)
            self.closed = True
        for pending in left:
            pending.complete(Outcome.UNKNOWN, error="never completed")
        return len(left)

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def count(self, kind: Kind, outcome: Outcome | None = None) -> int:
        return sum(1 for op in self.ops if op.kind is kind and outcome in (None, op.outcome))

    def to_jsonl(self) -> str:
        return "".join(json.dumps(op.to_json(), sort_keys=True) + "\n" for op in self.ops)

    @classmethod
    def from_jsonl(cls, text: str, clock: Callable[[], float] = float) -> History:
        return cls(clock, (Op.from_json(json.loads(line)) for line in text.splitlines() if line))


def ops_of(history: History | Sequence[Op]) -> list[Op]:
    return history.ops if isinstance(history, History) else list(history)
