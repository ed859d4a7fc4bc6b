"""The MQTT front end's two tables in the log: sessions (``__mqtt_sessions``, keyed by
client identifier) and retained messages (``__mqtt_retained``, keyed by MQTT topic).

Both are compacted topics (the latest value of each key is what counts; a tombstone deletes
it) that every broker follows from the start (:class:`~.tail.Tail`) into a dict, so a
device reconnecting to any broker finds its session and every subscriber its retained
messages, after restarts and failover. Writes go through :class:`~.ingest.Ingest` with
acks=all (batched with everything else of the loop turn) and return once committed.

Take-over across brokers: a connection claims its session by writing it with the next
generation and this broker's id; when the tail applies a claim of a higher generation for
a session this broker serves, :attr:`SessionTable.on_claimed` tells the front end, which
drops its connection ([MQTT-3.1.4-3]). A write of an older generation is ignored.

Ownership: one of each per front end, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from logd.broker.seam import BROKER, Caller
from logd.errors import UnknownServerError
from logd.frontends.mqtt.access import LogAccess
from logd.frontends.mqtt.ingest import Ingest, Waiter
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.session_state import SessionState, decode_session, encode_session
from logd.frontends.mqtt.tail import Tail
from logd.frontends.mqtt.topics import TopicFilter, split_topic
from logd.records.record import Header, Record, encode_headers
from partitioning.keys import partition_for

__all__ = ["RetainedMessage", "RetainedTable", "SessionTable"]

_log = logging.getLogger(__name__)
SESSIONS_TOPIC = "__mqtt_sessions"
RETAINED_TOPIC = "__mqtt_retained"
# Compaction keeps these tables small; until a broker compacts, nothing is deleted by age.
_TABLE_CONFIGS = {"cleanup.policy": "compact", "retention.ms": "-1"}
_FALLBACK_CONFIGS = {"retention.ms": "-1"}


class _Done:
    """A waiter of :class:`Ingest` that resolves a future (one write's answer)."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stored(self, packet_id: int, qos: int, reason: ReasonCode, message: str = "") -> None:
        if self.future.done():
            return
        if reason.is_error:
            self.future.set_exception(UnknownServerError(message or reason.name.lower()))
        else:
            self.future.set_result(None)


class _Table:
    """One table: created on first write (a broker whose MQTT listener never keeps a
    session or a retained message makes no topic), read from the start once it exists."""

    def __init__(self, access: LogAccess, ingest: Ingest, topic: str) -> None:
        self._access = access
        self._ingest = ingest
        self.topic = topic
        self.partitions = 1
        self._tail = Tail(access, topic, self._apply)
        self._started = False

    def configure(self, replication_factor: int) -> None:
        """How the topic is made when first written (compacted when the broker can)."""
        self._access.define_internal(
            self.topic, 1, replication_factor, _TABLE_CONFIGS, _FALLBACK_CONFIGS
        )

    async def follow(self) -> bool:
        """Start reading the topic if it exists (now, or since the last call); whether it is
        read. The front end calls it at start and every second, since any broker may be the
        one that creates it."""
        if self._started:
            return True
        info = self._access.cached(self.topic) or await self._access.topic(self.topic)
        if info is None:
            return False
        self.partitions = info.partitions
        self._tail.start(info.partitions)
        self._started = True
        return True

    async def stop(self) -> None:
        await self._tail.stop()

    def partition_of(self, key: str) -> int:
        return partition_for(key.encode("utf-8"), self.partitions)

    async def caught_up(self, key: str | None = None) -> None:
        """Until every write committed so far (to ``key``'s partition) has been read."""
        if await self.follow():
            await self._tail.wait_caught_up(None if key is None else [self.partition_of(key)])

    async def _write(self, key: str, value: bytes | None, headers: list[Header]) -> None:
        done = _Done()
        self._put(key, value, headers, done, 0, 1, BROKER)
        await done.future
        await self.follow()

    def _put(
        self,
        key: str,
        value: bytes | None,
        headers: list[Header],
        waiter: Waiter | None,
        packet_id: int,
        qos: int,
        caller: Caller,
    ) -> None:
        self._ingest.publish(
            self.topic, key.encode("utf-8"), value, encode_headers(headers), caller, waiter,
            packet_id, qos,
        )  # fmt: skip

    def _apply(self, partition: int, record: Record) -> None:
        raise NotImplementedError


class SessionTable(_Table):
    """Every persistent session of the cluster, by client identifier."""

    def __init__(self, access: LogAccess, ingest: Ingest) -> None:
        super().__init__(access, ingest, SESSIONS_TOPIC)
        self._sessions: dict[str, SessionState] = {}
        #: (client id, generation, broker) of a claim this table applied.
        self.on_claimed: Callable[[str, int, int], None] = lambda c, g, b: None

    def get(self, client_id: str) -> SessionState | None:
        return self._sessions.get(client_id)

    def __iter__(self) -> Iterator[SessionState]:
        return iter(list(self._sessions.values()))

    async def save(self, state: SessionState) -> None:
        """Write ``state`` (committed on return) and remember it here at once."""
        self._remember(state)
        await self._write(state.client_id, encode_session(state), [])

    async def delete(self, client_id: str, gen: int) -> None:
        """End the session (a tombstone), unless a newer generation claimed it meanwhile."""
        known = self._sessions.get(client_id)
        if known is not None and known.gen > gen:
            return
        self._sessions.pop(client_id, None)
        await self._write(client_id, None, [("gen", str(gen).encode())])

    def _remember(self, state: SessionState) -> None:
        known = self._sessions.get(state.client_id)
        if known is None or state.gen >= known.gen:
            self._sessions[state.client_id] = state

    def _apply(self, partition: int, record: Record) -> None:
        if record.key is None:
            return
        try:
            client_id = record.key.decode("utf-8")
            if record.value is None:
                gen = int(dict(record.headers).get("gen") or b"0")
                known = self._sessions.get(client_id)
                if known is not None and known.gen <= gen:
                    del self._sessions[client_id]
                return
            state = decode_session(record.value)
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("mqtt: %s: skipping a record that is not a session: %s", self.topic, exc)
            return
        known = self._sessions.get(client_id)
        if known is not None and state.gen < known.gen:
            return  # a late write of a connection that was taken over
        newer = known is None or state.gen > known.gen
        self._sessions[client_id] = state
        if newer:
            self.on_claimed(client_id, state.gen, state.broker)


@dataclass(frozen=True, slots=True)
class RetainedMessage:
    topic: str
    payload: bytes
    qos: int
    headers: tuple[Header, ...]


class RetainedTable(_Table):
    """The retained message of every topic that has one."""

    def __init__(self, access: LogAccess, ingest: Ingest) -> None:
        super().__init__(access, ingest, RETAINED_TOPIC)
        self._messages: dict[str, RetainedMessage] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def write(
        self, message: RetainedMessage, waiter: Waiter | None, packet_id: int, caller: Caller
    ) -> None:
        """Keep ``message`` as its topic's retained one; an empty payload deletes it
        ([MQTT-3.3.1-6]). ``waiter`` is told once it is committed."""
        headers: list[Header] = [("qos", str(message.qos).encode()), *message.headers]
        if message.payload:
            self._messages[message.topic] = message
            self._put(message.topic, message.payload, headers, waiter, packet_id,
                      message.qos, caller)  # fmt: skip
        else:
            self._messages.pop(message.topic, None)
            self._put(message.topic, None, headers, waiter, packet_id, message.qos, caller)

    def matching(self, topic_filter: TopicFilter) -> list[RetainedMessage]:
        return [m for t, m in self._messages.items() if topic_filter.matches(split_topic(t))]

    def _apply(self, partition: int, record: Record) -> None:
        if record.key is None:
            return
        try:
            topic = record.key.decode("utf-8")
        except UnicodeDecodeError:
            return
        if not record.value:
            self._messages.pop(topic, None)
            return
        headers = list(record.headers)
        qos = 0
        if headers and headers[0][0] == "qos" and headers[0][1] in (b"0", b"1", b"2"):
            qos = int(headers.pop(0)[1] or b"0")
        self._messages[topic] = RetainedMessage(topic, record.value, qos, tuple(headers))
