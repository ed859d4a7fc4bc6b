"""The fault run's workload with Kafka clients (``WorkloadConfig(client="kafka")``):
confluent-kafka (librdkafka 2.16) through the Kafka listener, beside the logd-client one.

Same values, topics, pacing, history and checker as :mod:`tests.fault.workload` -- only the
client calls differ:

* producers: librdkafka's idempotent producer with ``acks=all`` (``enable.idempotence``);
  a delivery refused for its content (the canary's MSG_SIZE_TOO_LARGE) is FAILED, every
  other error UNKNOWN (an earlier attempt may have been appended); what is still queued at
  the end is purged and UNKNOWN;
* consumers: librdkafka group members (``cooperative-sticky``: incremental rebalances) that
  commit explicit offsets every few polls and when partitions are revoked, and leave and
  rejoin as new members now and then.

Thread-safety: each worker owns its client (librdkafka's callbacks run inside its
``poll``/``consume``, on the worker's thread).
"""

from __future__ import annotations

import time
from typing import Any, Final

from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition

from tests.fault.history import Outcome, Pending
from tests.fault.workload import Polled, _ConsumerWorker, _ProducerWorker

__all__ = ["KafkaConsumerWorker", "KafkaProducerWorker"]

#: Refusals for the batch's content: no attempt of the same bytes can have been appended.
_CONTENT_ERRORS: Final = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)
#: A coordinator's refusal of a commit from a stale member: nothing was written.
_FENCED_COMMIT: Final = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.FENCED_INSTANCE_ID,
    }
)


class KafkaProducerWorker(_ProducerWorker):
    def work(self) -> None:
        cfg = self.config
        producer = CkProducer(
            {
                "bootstrap.servers": self.brokers,
                "client.id": self.name,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "request.timeout.ms": cfg.request_timeout_ms,
                "message.timeout.ms": cfg.delivery_timeout_ms,
                "retry.backoff.ms": 50,
                "retry.backoff.max.ms": 500,
            }
        )
        interval = 1.0 / cfg.rate
        next_at = time.monotonic()
        seq = 0
        while not self.stop.is_set():
            self._send(producer, seq)
            seq += 1
            next_at += interval
            while (left := next_at - time.monotonic()) > 0:  # pace, serving callbacks
                producer.poll(left)
        producer.flush(cfg.delivery_timeout_ms / 1000.0)
        producer.purge()  # what is left fails now (UNKNOWN: it may have been sent)
        producer.flush(0)

    def _send(self, producer: CkProducer, seq: int) -> None:
        topic, partition, value, key = self._next(seq)
        pending = self._invoke(topic, partition, value)
        try:
            producer.produce(topic, value, key, partition, on_delivery=self._delivered(pending))
        except BufferError as exc:  # the local queue is full: never sent
            self._never_sent(pending, exc)
        except KafkaException as exc:
            self._never_sent(pending, exc)
            if exc.args[0].fatal():
                raise  # an idempotent producer that cannot go on: the run reports it

    def _delivered(self, pending: Pending) -> Any:
        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            if err is None:
                offset = msg.offset()  # None: persisted, offset unknown (see history.Op)
                pending.complete(Outcome.OK, offset=-1 if offset is None else offset)
                self.progress.add(completed=1, acked=1)
                return
            outcome = Outcome.FAILED if err.code() in _CONTENT_ERRORS else Outcome.UNKNOWN
            pending.complete(outcome, error=f"{err.name()}: {err.str()}")
            self.progress.add(completed=1)

        return on_delivery


class KafkaConsumerWorker(_ConsumerWorker):
    client_errors = (KafkaException,)

    def _open(self) -> CkConsumer:
        cfg = self.config
        self._opened += 1
        consumer = CkConsumer(
            {
                "bootstrap.servers": self.brokers,
                "client.id": self.name,
                "group.id": cfg.group,
                "partition.assignment.strategy": "cooperative-sticky",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": cfg.session_timeout_ms,
                "heartbeat.interval.ms": cfg.heartbeat_interval_ms,
                "fetch.wait.max.ms": 100,
            }
        )
        consumer.subscribe(
            [cfg.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )
        return consumer

    def _poll(self, consumer: Any) -> list[Polled]:
        polled = []
        for msg in consumer.consume(500, 0.2):
            error = msg.error()
            if error is None:
                polled.append((msg.topic(), msg.partition(), msg.offset(), msg.value() or b""))
            elif error.fatal():
                raise KafkaException(error)
            # else: a broker down, a leader moving -- librdkafka retries by itself
        return polled

    def _send_commit(self, consumer: Any, wanted: dict[tuple[str, int], int]) -> None:
        offsets = [CkTopicPartition(t, p, o) for (t, p), o in wanted.items()]
        for tp in consumer.commit(offsets=offsets, asynchronous=False) or ():
            if tp.error is not None:
                raise KafkaException(tp.error)

    def _commit_outcome(self, exc: Exception) -> Outcome:
        error = exc.args[0] if exc.args else None
        fenced = isinstance(error, KafkaError) and error.code() in _FENCED_COMMIT
        return Outcome.FAILED if fenced else Outcome.UNKNOWN
