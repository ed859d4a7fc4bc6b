"""MQTT sessions on one broker: set up at CONNECT, carried while connected, kept (or ended)
when the connection goes — with their state in ``__mqtt_sessions`` and their positions in
the consumer group ``mqtt-<client id>`` (:mod:`.session_state`).

A session is *persistent* when its Session Expiry Interval is above 0 (3.1.1: a
``cleanSession=0`` connection); only those are written to the log. A clean session with
no expiry lives and dies with its connection and costs no write (so a fleet of devices
that publish without sessions connects for nothing but the TCP handshake); the price is
that two connections with the same client identifier on two different brokers are not
told about each other (on one broker they are: the older one is taken over).

CONNECT: wait until this broker has read every session write committed so far for the
client's partition of ``__mqtt_sessions`` (another broker may have just written it), then
resume the session (``cleanStart=0`` and one exists, not expired) or start a new one, and
claim it: write it with the next generation and this broker's id (committed before
CONNACK). Positions come from the group's committed offsets.

Ownership: :class:`SessionKeeper` is one per front end; a :class:`LiveSession` belongs to
its connection's handler; both live on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from logd.broker.seam import Caller
from logd.errors import ErrorCode, LogdError
from logd.frontends.mqtt.access import LogAccess
from logd.frontends.mqtt.connection import ConnectRequested
from logd.frontends.mqtt.delivery import Delivery, Subscribed
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.mapping import record_publish
from logd.frontends.mqtt.packets import (
    Publish,
    RetainHandling,
    Subscribe,
    Unsubscribe,
    Will,
)
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.rules import RuleSet
from logd.frontends.mqtt.session_state import (
    SavedSubscription,
    SessionState,
    group_id_for,
)
from logd.frontends.mqtt.store import RetainedTable, SessionTable
from logd.frontends.mqtt.topics import parse_filter
from logd.groups.messages import NO_OFFSET, TopicPartition
from logd.records.record import Record

if TYPE_CHECKING:
    from logd.frontends.mqtt.handler import MqttHandler
    from logd.frontends.mqtt.publish import Publisher

__all__ = ["LiveSession", "SessionKeeper"]

_log = logging.getLogger(__name__)
_NO_FILTERS: frozenset[str] = frozenset()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LiveSession:
    """A session while its connection is open."""

    def __init__(
        self,
        keeper: SessionKeeper,
        state: SessionState,
        present: bool,
        caller: Caller,
        delivery: Delivery,
    ) -> None:
        self._keeper = keeper
        self.state = state
        self.present = present
        self.expiry = state.expiry
        self.caller = caller
        self.delivery = delivery
        self.taken_over = False
        # Filters the last SUBSCRIBE added, and the lock of QoS 2 messages: made on first
        # use (an idle device's session holds neither: issue 19's bytes per connection).
        self._new: AbstractSet[str] = _NO_FILTERS
        self._qos2_lock: asyncio.Lock | None = None

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def qos2_lock(self) -> asyncio.Lock:
        """QoS 2 messages go one at a time (.exactly_once)."""
        if self._qos2_lock is None:
            self._qos2_lock = asyncio.Lock()
        return self._qos2_lock

    @property
    def persistent(self) -> bool:
        return self.expiry > 0

    def qos2_received(self) -> set[int]:
        return {pid for pid, q in self.state.qos2 if q.stored}

    def start(self, handler: MqttHandler) -> None:
        self.delivery.attach(handler)

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, packet: Subscribe) -> list[ReasonCode]:
        reasons: list[ReasonCode] = []
        subs: list[Subscribed] = []
        identifiers = packet.properties.subscription_identifiers
        identifier = identifiers[0] if identifiers else None
        for sub in packet.subscriptions:
            try:
                subs.append(Subscribed(parse_filter(sub.filter), sub, identifier))
            except MqttError as exc:
                reasons.append(exc.reason)
                continue
            reasons.append(ReasonCode(sub.qos))
        self._new = {s.filter.text for s in subs if s.filter.text not in self.delivery.subs}
        await self.delivery.subscribe(subs)
        await self._persist()
        return reasons

    async def unsubscribe(self, packet: Unsubscribe) -> list[ReasonCode]:
        existed = await self.delivery.unsubscribe(list(packet.filters))
        await self._persist()
        return [ReasonCode.SUCCESS if e else ReasonCode.NO_SUBSCRIPTION_EXISTED for e in existed]

    def send_retained(self, packet: Subscribe, reasons: list[ReasonCode]) -> None:
        """The retained messages each new subscription asked for (section 3.3.1.3)."""
        for sub, reason in zip(packet.subscriptions, reasons, strict=True):
            if reason.is_error or sub.retain_handling == RetainHandling.DO_NOT_SEND:
                continue
            if sub.retain_handling == RetainHandling.SEND_IF_NEW and sub.filter not in self._new:
                continue
            rules, access = self._keeper.rules(), self._keeper.access
            for message in self._keeper.retained.matching(parse_filter(sub.filter)):
                if not _may_read(access, self.caller, rules, message.topic):
                    continue  # retained messages of topics it may not read: not for it
                record = Record(0, 0, None, message.payload, message.headers)
                qos = min(sub.qos, message.qos)
                self.delivery.queue(
                    record_publish(record, message.topic, qos, self.delivery.version5)._replace(
                        retain=True
                    )
                )

    # -- state ------------------------------------------------------------------------------

    def saved_subscriptions(self) -> tuple[SavedSubscription, ...]:
        return tuple(
            SavedSubscription(s.options, s.identifier) for s in self.delivery.subs.values()
        )

    async def _persist(self) -> None:
        """Subscriptions and their start positions durable (before SUBACK)."""
        if not self.persistent:
            return
        self.state = dataclasses.replace(self.state, subs=self.saved_subscriptions())
        await self._keeper.table.save(self.state)
        await self.commit()

    async def commit(self) -> None:
        """The positions of a persistent session into its consumer group."""
        if not self.persistent or not self.delivery.dirty:
            return
        self.delivery.dirty = False
        # As the broker: the positions are the listener's bookkeeping for the device, whose
        # right to read each topic was checked when it was subscribed (``Delivery``).
        error = await self._keeper.access.commit(
            group_id_for(self.client_id), self.delivery.committable()
        )
        if error is not None:
            self.delivery.dirty = True
            _log.info("mqtt %s: positions not committed: %s", self.client_id, error)

    async def released(self, packet_id: int) -> None:
        """QoS 2: the release of ``packet_id`` durable (the exactly-once bookkeeping)."""
        await self._keeper.publisher.released(self, packet_id)

    async def ended(self, will: Will | None) -> None:
        """The connection is gone: its will (now or after its delay), then the session kept
        with the time it ended, or deleted."""
        await self.delivery.detach()
        if self.taken_over:
            return  # the session lives on in another connection
        keeper = self._keeper
        if will is not None:
            keeper.will_after(self, will)
        if self.persistent:
            await self.commit()
            self.state = dataclasses.replace(
                self.state,
                expiry=self.expiry,
                gone_ms=_wall_ms(),
                subs=self.saved_subscriptions(),
            )
            await keeper.table.save(self.state)
        elif keeper.table.get(self.client_id) is not None:
            await keeper.table.delete(self.client_id, self.state.gen)


def _may_read(access: LogAccess, caller: Caller, rules: RuleSet, mqtt_topic: str) -> bool:
    """The topic ``mqtt_topic`` is stored in (by the rules in force) is one ``caller`` may
    read; False when the rules map it nowhere now."""
    try:
        topic = rules.map(mqtt_topic).topic
    except MqttError:
        return False
    return bool(access.readable(caller, [topic]))


class SessionKeeper:
    """Sessions of this broker's connections (see the module docstring)."""

    def __init__(
        self,
        access: LogAccess,
        table: SessionTable,
        retained: RetainedTable,
        rules: Callable[[], RuleSet],
        node_id: int,
    ) -> None:
        self.access = access
        self.table = table
        self.retained = retained
        self.rules = rules
        self.node_id = node_id
        self.publisher: Publisher  # set by the server (they refer to each other)
        self._wills: dict[str, asyncio.TimerHandle] = {}

    async def open(
        self, handler: MqttHandler, event: ConnectRequested, caller: Caller
    ) -> LiveSession:
        client_id = event.client_id
        self._cancel_will(client_id)
        keep = event.session_expiry > 0
        known = None
        if keep or not event.connect.clean_start:
            await self.table.caught_up(client_id)
            known = self.table.get(client_id)
            if known is not None and known.expired(_wall_ms()):
                known = None
        resume = known is not None and not event.connect.clean_start
        gen = known.gen + 1 if known is not None else 1
        if resume:
            assert known is not None
            state = dataclasses.replace(known, gen=gen, broker=self.node_id,
                                        expiry=event.session_expiry, gone_ms=None)  # fmt: skip
        else:
            state = SessionState(client_id, gen, self.node_id, event.session_expiry)
        delivery = Delivery(self.access, self.rules, caller, client_id,
                            event.connect.version == 5)  # fmt: skip
        session = LiveSession(self, state, resume, caller, delivery)
        if resume:
            await self._restore(session)
            await self.publisher.exactly_once.recover(session)
        if keep or known is not None:
            await self.table.save(session.state)
        return session

    async def _restore(self, session: LiveSession) -> None:
        subs = [
            Subscribed(parse_filter(s.subscription.filter), s.subscription, s.identifier)
            for s in session.state.subs
        ]
        start: dict[TopicPartition, int] = {}
        if subs:
            answer = await self.access.committed(group_id_for(session.client_id))
            if answer.error != ErrorCode.NONE:
                raise LogdError(f"positions of {session.client_id}: {answer.error_message}")
            start = {
                TopicPartition(p.topic, p.partition): p.offset
                for p in answer.partitions
                if p.offset != NO_OFFSET and p.error == ErrorCode.NONE
            }
        await session.delivery.subscribe(subs, start)

    # -- wills ------------------------------------------------------------------------------

    def will_after(self, session: LiveSession, will: Will) -> None:
        """Publish ``will`` after its delay (at most the session's expiry), unless the
        session is resumed first (5.0 section 3.1.3.2)."""
        delay = will.properties.will_delay_interval or 0
        delay = min(delay, session.expiry) if session.persistent else 0
        publish = Publish(
            will.topic, will.payload, will.qos, will.retain, properties=will.properties
        )
        if delay <= 0:
            self.publisher.publish_will(session, publish)
            return
        loop = asyncio.get_running_loop()
        self._wills[session.client_id] = loop.call_later(delay, self._fire_will, session, publish)

    def _fire_will(self, session: LiveSession, publish: Publish) -> None:
        self._wills.pop(session.client_id, None)
        self.publisher.publish_will(session, publish)

    def _cancel_will(self, client_id: str) -> None:
        handle = self._wills.pop(client_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        for handle in self._wills.values():
            handle.cancel()
        self._wills.clear()
