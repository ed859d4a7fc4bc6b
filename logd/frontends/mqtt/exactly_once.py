"""QoS 2 into the log exactly once, across broker crashes and failover: each persistent
session writes its QoS 2 messages as an idempotent producer (Zilla maps QoS 2 the same way).

A persistent session has a producer id (``InitProducerId``) and, per partition, the next
sequence number; both are part of its record in ``__mqtt_sessions``. For a QoS 2 PUBLISH
(one at a time per session, in order):

1. *intent* — the record to write, its partition and its sequence go into the session's
   ``qos2`` table, and the session record is written (committed) first;
2. *data* — the record is produced with (producer id, epoch, sequence), acks=all; the
   partition's producer state answers a second copy with the same sequence as a duplicate
   (the first one's offsets), so writing it twice stores it once;
3. PUBREC. PUBREL removes the entry (the session record written again) before PUBCOMP, so
   the identifier is free for a new message only once that is durable.

A broker that resumes the session (after a crash, on another broker) writes every entry
still marked unwritten again under its recorded sequence before CONNACK: present once in
the log either way. At most one entry is unwritten at a time (the session's messages go one
by one), so it is always within the 5 batches a partition remembers per producer.

When the log no longer knows the producer (its state expired after
``producer.id.expiration.ms``, a day by default) or a sequence is refused as out of order,
the session bumps its epoch (sequences start again at 0; KIP-360) and writes the message
again — only a message whose first write is older than the expiry could then appear twice.

A clean session (expiry 0) ends with its connection, so nothing can be resent across a
crash: its QoS 2 messages go the QoS 1 way (stored, then PUBREC), and the connection's own
table answers a resend with PUBREC again.

Ownership: one per front end, on the broker's event loop; one session's calls run in order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from logd.broker.api import ProduceResult
from logd.errors import (
    ErrorCode,
    LogdError,
    UnknownServerError,
    UnknownTopicOrPartitionError,
)
from logd.frontends.mqtt.access import LogAccess
from logd.frontends.mqtt.session_state import Qos2Pending, SessionState
from logd.frontends.mqtt.store import SessionTable
from logd.records.builder import BatchBuilder
from logd.records.record import Header
from partitioning.keys import partition_for

if TYPE_CHECKING:
    from logd.frontends.mqtt.sessions import LiveSession

__all__ = ["ExactlyOnce"]

_log = logging.getLogger(__name__)
_RESET = frozenset({ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, ErrorCode.UNKNOWN_PRODUCER_ID})
_FENCED = frozenset({ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.PRODUCER_FENCED})
_MAX_EPOCH = 32767


class ExactlyOnce:
    """See the module docstring."""

    def __init__(self, access: LogAccess, table: SessionTable) -> None:
        self._access = access
        self._table = table

    async def store(
        self,
        session: LiveSession,
        packet_id: int,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[Header],
        timestamp: int,
    ) -> None:
        """Steps 1 and 2 for one new QoS 2 message; raises a LogdError when not stored."""
        async with session.qos2_lock:
            pending = dict(session.state.qos2).get(packet_id)
            if pending is None:
                info = await self._access.topic(topic, create=True, caller=session.caller)
                if info is None:
                    raise UnknownTopicOrPartitionError(f"topic {topic} does not exist")
                partition = (
                    partition_for(key, info.partitions) if key is not None
                    else packet_id % info.partitions
                )  # fmt: skip
                record = Qos2Pending(topic, partition, 0, key, value, tuple(headers), timestamp)
                await self._intend(session, packet_id, record)
            try:
                await self._write(session, packet_id)
            except LogdError:
                self._forget(session, packet_id)  # PUBREC says it failed: not kept
                raise

    async def _intend(self, session: LiveSession, packet_id: int, record: Qos2Pending) -> None:
        """Step 1: give the record the next sequence and make that durable."""
        state = session.state
        if state.producer_id < 0:
            answer = await self._access.seam.init_producer_id(caller=session.caller)
            if answer.error is not None:
                raise answer.error
            state = dataclasses.replace(
                state, producer_id=answer.producer_id, producer_epoch=answer.producer_epoch
            )
        sequences = {(t, p): n for t, p, n in state.sequences}
        sequence = sequences.get((record.topic, record.partition), 0)
        sequences[record.topic, record.partition] = sequence + 1
        # Invariant: every earlier message of the session was written (they go one by one,
        # and a failed one is dropped), so only this new one is marked unwritten: a broker
        # resuming the session writes again only what may be beyond the log's memory of
        # this producer otherwise.
        qos2 = {pid: dataclasses.replace(q, stored=True) for pid, q in state.qos2}
        qos2[packet_id] = dataclasses.replace(record, sequence=sequence, stored=False)
        session.state = dataclasses.replace(
            state,
            sequences=tuple((t, p, n) for (t, p), n in sequences.items()),
            qos2=tuple(qos2.items()),
        )
        await self._table.save(session.state)

    async def _write(self, session: LiveSession, packet_id: int) -> None:
        """Step 2, again after an epoch bump when the log asks for one."""
        for _ in range(3):
            state = session.state
            record = dict(state.qos2)[packet_id]
            result = await self._produce(state, record, session)
            error = result.error
            if error is None:
                self._mark(session, packet_id, stored=True)
                return
            if error.code in _RESET or error.code in _FENCED:
                _log.info("mqtt %s: QoS 2 producer reset (%s)", session.client_id, error)
                await self._reset(session, packet_id, fenced=error.code in _FENCED)
                continue
            raise error
        raise UnknownServerError(f"QoS 2 message {packet_id} could not be written")

    async def _produce(
        self, state: SessionState, record: Qos2Pending, session: LiveSession
    ) -> ProduceResult:
        builder = BatchBuilder(
            producer_id=state.producer_id,
            producer_epoch=state.producer_epoch,
            base_sequence=record.sequence,
        )
        builder.append(record.timestamp, record.key, record.value, record.headers)
        answer = self._access.produce(record.topic, record.partition, builder.build(),
                                      session.caller)  # fmt: skip
        return answer if isinstance(answer, ProduceResult) else await answer

    async def _reset(self, session: LiveSession, packet_id: int, *, fenced: bool) -> None:
        """A new epoch (or, fenced or past the last epoch, a new producer id): every
        sequence starts again at 0; the message keeps its place and gets sequence 0."""
        state = session.state
        epoch = state.producer_epoch + 1
        producer_id = state.producer_id
        if fenced or epoch > _MAX_EPOCH:
            answer = await self._access.seam.init_producer_id(caller=session.caller)
            if answer.error is not None:
                raise answer.error
            producer_id, epoch = answer.producer_id, answer.producer_epoch
        record = dict(state.qos2)[packet_id]
        qos2 = dict(state.qos2)
        qos2[packet_id] = dataclasses.replace(record, sequence=0)
        session.state = dataclasses.replace(
            state,
            producer_id=producer_id,
            producer_epoch=epoch,
            sequences=((record.topic, record.partition, 1),),
            qos2=tuple(qos2.items()),
        )
        await self._table.save(session.state)

    def _forget(self, session: LiveSession, packet_id: int) -> None:
        qos2 = dict(session.state.qos2)
        qos2.pop(packet_id, None)
        session.state = dataclasses.replace(session.state, qos2=tuple(qos2.items()))

    def _mark(self, session: LiveSession, packet_id: int, *, stored: bool) -> None:
        qos2 = dict(session.state.qos2)
        qos2[packet_id] = dataclasses.replace(qos2[packet_id], stored=stored)
        session.state = dataclasses.replace(session.state, qos2=tuple(qos2.items()))

    async def release(self, session: LiveSession, packet_id: int) -> None:
        """Step 3: PUBREL read; the identifier forgotten durably (then PUBCOMP)."""
        async with session.qos2_lock:
            qos2 = dict(session.state.qos2)
            if qos2.pop(packet_id, None) is None:
                return
            session.state = dataclasses.replace(session.state, qos2=tuple(qos2.items()))
            await self._table.save(session.state)

    async def recover(self, session: LiveSession) -> None:
        """A resumed session: write again what its last broker may not have written."""
        for packet_id, record in sorted(session.state.qos2, key=lambda x: x[1].sequence):
            if not record.stored:
                await self._write(session, packet_id)
        if any(not r.stored for _, r in session.state.qos2):
            raise UnknownServerError("QoS 2 messages of the session could not be written")
