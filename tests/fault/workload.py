"""The clients of a fault run: producers of unique values and consumers in a group, each
recording every operation it makes into the :class:`~tests.fault.history.History`.

* Producers (one thread and one :class:`~logd.client.Producer` each, ``acks=all`` --
  idempotent once the idempotent producer is on by default) send ``<name>-<seq>`` values to
  partition ``seq % partitions`` at a steady pace. Every ``canary_every``-th value goes to
  a small canary topic instead, padded past its ``max.message.bytes``: the broker refuses
  it, so its send definitely failed -- and the checker's aborted-read check has something
  real to look for.
* Consumers (one thread and one :class:`~logd.client.Consumer` each) share a group,
  commit by hand every few polls and when partitions are revoked, and now and then leave
  and rejoin as a new member (rebalances); each partition they are assigned starts a new
  *session* (the poll checks hold within one).

Outcomes: OK with the offset; FAILED only when the operation cannot have been applied
(refused for its content, or never sent); UNKNOWN for everything else (timeouts, broken
connections, a broker killed mid-answer) -- see :func:`produce_outcome`.

Thread-safety: each worker owns its client; the history and :class:`Progress` are shared.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from logd.client import Consumer, ConsumerRecord, Producer, RecordMetadata, TopicPartition
from logd.errors import (
    CorruptRecordError,
    FencedInstanceIdError,
    IllegalGenerationError,
    InvalidRecordError,
    InvalidRequiredAcksError,
    InvalidTopicError,
    LogdError,
    MessageTooLargeError,
    RebalanceInProgressError,
    RecordListTooLargeError,
    UnknownMemberIdError,
)
from tests.fault.checker import key_of
from tests.fault.history import History, Kind, Op, Outcome, Pending

__all__ = [
    "CANARY_MAX_BYTES",
    "Progress",
    "Workload",
    "WorkloadConfig",
    "commit_outcome",
    "produce_outcome",
]

_log = logging.getLogger(__name__)

#: A polled record, whatever the client: topic, partition, offset, value.
Polled = tuple[str, int, int, bytes]

#: The canary topic's max.message.bytes; canary values are twice as long.
CANARY_MAX_BYTES = 1024

#: Refusals for the batch's content: every attempt of the same bytes is refused alike, so
#: no earlier attempt can have been appended.
_CONTENT_ERRORS = (
    CorruptRecordError,
    InvalidRecordError,
    InvalidRequiredAcksError,
    InvalidTopicError,
    MessageTooLargeError,
    RecordListTooLargeError,
)
#: A coordinator's refusal of a commit from a stale member: nothing was written.
_FENCED_COMMIT = (
    FencedInstanceIdError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)


def produce_outcome(error: LogdError) -> Outcome:
    """FAILED for a content refusal, UNKNOWN otherwise (an earlier attempt of the batch may
    have been appended before the one that reported this error)."""
    return Outcome.FAILED if isinstance(error, _CONTENT_ERRORS) else Outcome.UNKNOWN


def commit_outcome(error: LogdError) -> Outcome:
    return Outcome.FAILED if isinstance(error, _FENCED_COMMIT) else Outcome.UNKNOWN


@dataclasses.dataclass(frozen=True)
class WorkloadConfig:
    #: The clients: ``logd`` (logd.client over gRPC) or ``kafka`` (confluent-kafka through
    #: the Kafka listener: tests/fault/kafka_workload.py). Final reads use logd's client:
    #: one log, whatever the door.
    client: str = "logd"
    topic: str = "fault"
    canary_topic: str = "fault-canary"
    #: A compacted topic (issue 16): every ``compacted_every``-th value goes there, keyed
    #: by one of ``compacted_keys`` keys, as ``<key>:<value>`` (the checker's ``key_of``).
    compacted_topic: str = "fault-compacted"
    compacted_every: int = 7
    compacted_keys: int = 16
    partitions: int = 4
    producers: int = 3
    consumers: int = 2
    group: str = "fault-group"
    #: Values a second per producer.
    rate: float = 150.0
    canary_every: int = 50
    #: Polls between two commits of a consumer.
    commit_every: int = 5
    #: Short, so that the longer faults leave some outcomes unknown.
    request_timeout_ms: int = 1_500
    delivery_timeout_ms: int = 6_000
    session_timeout_ms: int = 6_000
    heartbeat_interval_ms: int = 500
    #: A consumer leaves and rejoins as a new member after this many polls (drawn per
    #: member, seeded by its name): rebalances, new sessions, resumption from commits.
    churn_polls: tuple[int, int] = (100, 400)


def final_partitions(cfg: WorkloadConfig) -> list[tuple[str, int]]:
    """Every partition the workload writes, for the final reads."""
    tps = [(cfg.topic, p) for p in range(cfg.partitions)] + [(cfg.canary_topic, 0)]
    return tps + ([(cfg.compacted_topic, 0)] if cfg.compacted_every else [])


class Progress:
    """Counters the nemesis waits on. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Produce calls made, answered (any outcome), acknowledged; records polled.
        self.invoked = 0
        self.completed = 0
        self.acked = 0
        self.polled = 0

    def add(self, *, invoked: int = 0, completed: int = 0, acked: int = 0, polled: int = 0) -> None:
        with self._lock:
            self.invoked += invoked
            self.completed += completed
            self.acked += acked
            self.polled += polled


class Workload:
    """Starts the workers against ``brokers`` and stops them; owned by the harness."""

    def __init__(self, brokers: str, history: History, config: WorkloadConfig) -> None:
        self.config = config
        self.progress = Progress()
        self._stop_producers = threading.Event()
        self._stop_consumers = threading.Event()
        producer, consumer = _workers(config.client)
        self._producers = [
            producer(f"p{i}", brokers, history, config, self._stop_producers, self.progress)
            for i in range(config.producers)
        ]
        self._consumers = [
            consumer(f"c{i}", brokers, history, config, self._stop_consumers, self.progress)
            for i in range(config.consumers)
        ]

    def start(self) -> None:
        for producer in self._producers:
            producer.start()
        for consumer in self._consumers:
            consumer.start()

    def stop(self, timeout: float = 120.0) -> list[str]:
        """Stop producing (every value gets its outcome), then consuming; returns the
        errors that ended a worker early (there should be none)."""
        self._stop_producers.set()
        for producer in self._producers:
            producer.join(timeout)
        self._stop_consumers.set()
        for consumer in self._consumers:
            consumer.join(timeout)
        workers: list[_Worker] = [*self._producers, *self._consumers]
        stuck = [w.name for w in workers if w.is_alive()]
        errors = [f"{w.name}: {w.error}" for w in workers if w.error]
        return errors + [f"{name} did not stop" for name in stuck]


def _workers(client: str) -> tuple[type[_ProducerWorker], type[_ConsumerWorker]]:
    if client == "kafka":
        from tests.fault.kafka_workload import KafkaConsumerWorker, KafkaProducerWorker

        return KafkaProducerWorker, KafkaConsumerWorker
    assert client == "logd", client
    return _ProducerWorker, _ConsumerWorker


class _Worker(threading.Thread):
    def __init__(
        self,
        name: str,
        brokers: str,
        history: History,
        config: WorkloadConfig,
        stop: threading.Event,
        progress: Progress,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.brokers = brokers
        self.history = history
        self.config = config
        self.stop = stop
        self.progress = progress
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # reported by Workload.stop: a worker must not die quietly
            _log.exception("%s failed", self.name)
            self.error = f"{type(exc).__name__}: {exc}"

    def work(self) -> None:
        raise NotImplementedError


class _ProducerWorker(_Worker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rng = random.Random(self.name)

    def work(self) -> None:
        cfg = self.config
        producer = Producer(
            brokers=self.brokers, client_id=self.name, acks="all", linger_ms=2,
            request_timeout_ms=cfg.request_timeout_ms, delivery_timeout_ms=cfg.delivery_timeout_ms,
            retry_backoff_ms=50, retry_backoff_max_ms=500,
        )  # fmt: skip
        try:
            interval = 1.0 / cfg.rate
            next_at = time.monotonic()
            seq = 0
            while not self.stop.is_set():
                self._produce(producer, seq)
                seq += 1
                next_at += interval
                while (left := next_at - time.monotonic()) > 0:  # pace, serving callbacks
                    producer.poll(left)
            producer.flush(cfg.delivery_timeout_ms / 1000.0)
        finally:
            producer.close(cfg.delivery_timeout_ms / 1000.0)  # fails what is left: UNKNOWN

    def _next(self, seq: int) -> tuple[str, int, bytes, bytes | None]:
        """The ``seq``-th send: topic, partition, value, key (whatever the client)."""
        cfg = self.config
        if cfg.canary_every and seq % cfg.canary_every == cfg.canary_every - 1:
            # Incompressible, so no codec brings the batch under the limit.
            value = f"{self.name}-{seq:07d}-canary-".encode() + self._noise(2 * CANARY_MAX_BYTES)
            return cfg.canary_topic, 0, value, None
        if cfg.compacted_every and seq % cfg.compacted_every == 1:
            value = b"k%02d:" % (seq % cfg.compacted_keys) + f"{self.name}-{seq:07d}".encode()
            return cfg.compacted_topic, 0, value, key_of(value)
        return cfg.topic, seq % cfg.partitions, f"{self.name}-{seq:07d}".encode(), None

    def _invoke(self, topic: str, partition: int, value: bytes) -> Pending:
        pending = self.history.invoke(self.name, Kind.PRODUCE, topic=topic, partition=partition,
                                      value=value)  # fmt: skip
        self.progress.add(invoked=1)
        return pending

    def _never_sent(self, pending: Pending, exc: Exception) -> None:
        pending.complete(Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        self.progress.add(completed=1)

    def _produce(self, producer: Producer, seq: int) -> None:
        topic, partition, value, key = self._next(seq)
        pending = self._invoke(topic, partition, value)
        try:
            producer.produce(topic, value, key=key, partition=partition,
                             on_delivery=self._report(pending))  # fmt: skip
        except LogdError as exc:  # refused before it was queued: never sent
            self._never_sent(pending, exc)

    def _noise(self, size: int) -> bytes:
        return self._rng.randbytes(size)

    def _report(
        self, pending: Pending
    ) -> Callable[[LogdError | None, RecordMetadata | None], None]:
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            if err is None:
                assert md is not None
                pending.complete(Outcome.OK, offset=md.offset)
                self.progress.add(completed=1, acked=1)
            else:
                pending.complete(produce_outcome(err), error=f"{type(err).__name__}: {err}")
                self.progress.add(completed=1)

        return on_delivery


class _ConsumerWorker(_Worker):
    """A group member; each partition assigned to it starts a session ``<name>#<n>``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._sessions: dict[tuple[str, int], str] = {}
        #: The next offset to read in the current session, once it has read something.
        self._positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._opened = 0

    #: What the client raises for a failed call (the Kafka workload's differs).
    client_errors: tuple[type[Exception], ...] = (LogdError,)

    def work(self) -> None:
        rng = random.Random(self.name)
        while not self.stop.is_set():
            try:
                consumer = self._open()
            except self.client_errors as exc:  # no broker answers (one is down): try again
                _log.info("%s: cannot join yet: %s", self.name, exc)
                self.stop.wait(0.1)
                continue
            try:
                self._consume(consumer, rng.randint(*self.config.churn_polls))
            except self.client_errors as exc:  # a fatal group error: a new member takes over
                _log.warning("%s: %s; rejoining as a new member", self.name, exc)
            finally:
                try:
                    consumer.close()  # commits what was read (on_revoke) and leaves
                except self.client_errors as exc:
                    _log.warning("%s: close: %s", self.name, exc)
                self._sessions.clear()
                self._positions.clear()

    def _open(self) -> Consumer:
        cfg = self.config
        self._opened += 1
        consumer = Consumer(
            brokers=self.brokers, client_id=self.name, group_id=cfg.group,
            auto_offset_reset="earliest", enable_auto_commit=False,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            request_timeout_ms=cfg.request_timeout_ms, retry_backoff_ms=50,
            fetch_max_wait_ms=100,
        )  # fmt: skip
        consumer.subscribe(
            [cfg.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )
        return consumer

    def _consume(self, consumer: Any, polls_max: int) -> None:
        polls = 0
        while not self.stop.is_set() and polls < polls_max:
            invoke = self.history.now()
            records = self._poll(consumer)
            if records:
                self._record_poll(invoke, records)
            polls += 1
            if polls % self.config.commit_every == 0:
                self._commit(consumer, list(self._positions))

    def _poll(self, consumer: Any) -> list[Polled]:
        records: list[ConsumerRecord] = consumer.consume(500, 0.2)
        return [(r.topic, r.partition, r.offset, r.value or b"") for r in records]

    def _record_poll(self, invoke: float, records: list[Polled]) -> None:
        complete = self.history.now()
        by_tp: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
        for topic, partition, offset, value in records:
            by_tp.setdefault((topic, partition), []).append((offset, value))
        for tp, seen in by_tp.items():
            session = self._sessions.get(tp, f"{self.name}/unassigned")
            self.history.add(Op(self.name, Kind.POLL, invoke, complete, Outcome.OK, topic=tp[0],
                                partition=tp[1], session=session, records=tuple(seen)))  # fmt: skip
            self._positions[tp] = seen[-1][0] + 1
        self.progress.add(polled=len(records))

    def _commit(self, consumer: Any, tps: list[tuple[str, int]]) -> None:
        positions, committed = self._positions, self._committed
        wanted = {tp: positions[tp] for tp in tps
                  if tp in positions and committed.get(tp) != positions[tp]}  # fmt: skip
        if not wanted:
            return
        invoke = self.history.invoke
        fields = {"group": self.config.group}
        pending = [
            (tp, offset, invoke(self.name, Kind.COMMIT, topic=tp[0], partition=tp[1],
                                offset=offset, **fields))
            for tp, offset in wanted.items()
        ]  # fmt: skip
        try:
            self._send_commit(consumer, wanted)
        except self.client_errors as exc:
            for _, _, op in pending:
                op.complete(self._commit_outcome(exc), error=f"{type(exc).__name__}: {exc}")
            return
        for tp, offset, op in pending:
            op.complete(Outcome.OK)
            self._committed[tp] = offset

    def _send_commit(self, consumer: Any, wanted: dict[tuple[str, int], int]) -> None:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in wanted.items()])

    def _commit_outcome(self, exc: Exception) -> Outcome:
        assert isinstance(exc, LogdError)
        return commit_outcome(exc)

    # -- rebalance callbacks (on this thread, inside consume/close) --------------------------

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._opened += 1
            self._sessions[key] = f"{self.name}#{self._opened}"
            self._positions.pop(key, None)
            self._committed.pop(key, None)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._commit(consumer, keys)
        self._forget(keys)

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions])

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self._sessions.pop(key, None)
            self._positions.pop(key, None)
            self._committed.pop(key, None)
