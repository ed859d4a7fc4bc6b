"""A PUBLISH from a device, on its way into the log: rules, limits, headers, retained, and
the acknowledgement that says durable.

Per PUBLISH: the rule set maps its topic (a refusal: Topic Name invalid), the rule's
payload limit is checked (Quota exceeded), a 5.0 payload marked UTF-8 must be UTF-8
(Payload format invalid), the record's headers are made (:mod:`.mapping`) and
:class:`~.ingest.Ingest` appends it. QoS 0 is not waited for; QoS 1's PUBACK and QoS 2's
PUBREC follow the commit (acks=all). A retained PUBLISH is also written to
``__mqtt_retained`` and answered once both are committed. QoS 2 is stored exactly once:
:mod:`.exactly_once`. Refusals of QoS 0 PUBLISHes are only counted (the protocol has no
way to say them).

Ownership: one per front end, on the broker's event loop; never awaits on the hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from logd.broker.seam import BROKER
from logd.errors import LogdError
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.exactly_once import ExactlyOnce
from logd.frontends.mqtt.ingest import Ingest, Waiter, reason_for
from logd.frontends.mqtt.mapping import is_utf8, record_headers
from logd.frontends.mqtt.packets import Publish
from logd.frontends.mqtt.properties import NO_PROPERTIES
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.rules import Mapped, RuleSet
from logd.frontends.mqtt.store import RetainedMessage, RetainedTable
from logd.records.record import Header, encode_headers

if TYPE_CHECKING:
    from logd.frontends.mqtt.handler import MqttHandler
    from logd.frontends.mqtt.sessions import LiveSession

__all__ = ["PublishStats", "Publisher"]

_log = logging.getLogger(__name__)
_PLAIN_HEADERS_MAX = 65536  # (topic, client) pairs whose encoded headers are remembered


class PublishStats:
    __slots__ = ("dropped", "published", "refused")

    def __init__(self) -> None:
        self.published = 0
        self.refused = 0  # QoS 1/2 answered with an error
        self.dropped = 0  # QoS 0 that could not be stored


class _Both:
    """Answers a retained QoS 1/2 PUBLISH once its two writes are committed."""

    __slots__ = ("_left", "_waiter")

    def __init__(self, waiter: Waiter) -> None:
        self._waiter = waiter
        self._left = 2

    def stored(self, packet_id: int, qos: int, reason: ReasonCode, message: str = "") -> None:
        if self._left <= 0:
            return
        self._left = 0 if reason.is_error else self._left - 1
        if self._left == 0:
            self._waiter.stored(packet_id, qos, reason, message)


class Publisher:
    """See the module docstring."""

    def __init__(
        self,
        ingest: Ingest,
        retained: RetainedTable,
        rules: Callable[[], RuleSet],
        exactly_once: ExactlyOnce,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._ingest = ingest
        self._retained = retained
        self._rules = rules
        self.exactly_once = exactly_once
        self._spawn = spawn
        self._wall_ms = wall_ms
        self.stats = PublishStats()
        # The encoded headers of a plain PUBLISH (no property, not retained) depend only on
        # its topic, its client and the rule set: encoded once per device and topic, not
        # per message (the costliest step of a QoS 1 publish after decoding it).
        self._plain_headers: dict[tuple[str, str], bytes] = {}
        self._plain_rules: RuleSet | None = None

    def publish(self, handler: MqttHandler, publish: Publish, topic: str) -> None:
        session = handler.session
        assert session is not None
        waiter: Waiter | None = handler if publish.qos else None
        try:
            self._store(session, publish, topic, waiter)
        except MqttError as exc:
            if publish.qos:
                self.stats.refused += 1
                handler.stored(publish.packet_id, publish.qos, exc.reason, str(exc))
            else:
                self.stats.dropped += 1
                _log.debug("mqtt %s: QoS 0 PUBLISH dropped: %s", session.client_id, exc)

    def publish_will(self, session: LiveSession, publish: Publish) -> None:
        """A will message: stored like a QoS 0 PUBLISH of its client (nobody to answer)."""
        try:
            self._store(session, publish, publish.topic, None)
        except MqttError as exc:
            _log.info("mqtt %s: will not published: %s", session.client_id, exc)

    def _store(
        self, session: LiveSession, publish: Publish, topic: str, waiter: Waiter | None
    ) -> None:
        rules = self._rules()
        mapped = rules.map(topic)
        payload = publish.payload
        if len(payload) > mapped.max_payload_bytes:
            raise MqttError(
                ReasonCode.QUOTA_EXCEEDED,
                f"a payload of {len(payload)} bytes to {topic!r}: the limit of its rule is "
                f"{mapped.max_payload_bytes}",
            )
        if publish.properties.payload_format_indicator == 1 and not is_utf8(payload):
            raise MqttError(ReasonCode.PAYLOAD_FORMAT_INVALID, "the payload is not UTF-8")
        self.stats.published += 1
        if (publish.properties is NO_PROPERTIES and not publish.retain
                and not (publish.qos == 2 and session.persistent)):  # fmt: skip
            self._ingest.publish(
                mapped.topic, mapped.key, payload,
                self._plain(rules, publish, topic, session.client_id, mapped), session.caller,
                waiter, publish.packet_id, publish.qos,
            )  # fmt: skip
            return
        headers = record_headers(publish, topic, session.client_id, mapped)
        if publish.retain:
            # Kept by the broker, once the client may write the topic it maps to.
            refused = self._ingest.access.may(session.caller, "produce", mapped.topic)
            if refused is not None:
                raise MqttError(reason_for(refused), str(refused))
            both = _Both(waiter) if waiter is not None else None
            message = RetainedMessage(topic, payload, publish.qos, tuple(headers))
            self._retained.write(message, both, publish.packet_id, BROKER)
            waiter = both
        if publish.qos == 2 and session.persistent and waiter is not None:
            self._spawn(self._exactly_once(session, publish, mapped, headers, waiter))
            return
        self._ingest.publish(
            mapped.topic, mapped.key, payload, encode_headers(headers), session.caller, waiter,
            publish.packet_id, publish.qos,
        )  # fmt: skip

    def _plain(
        self, rules: RuleSet, publish: Publish, topic: str, client_id: str, mapped: Mapped
    ) -> bytes:
        if rules is not self._plain_rules:  # reloaded: the rules' headers may differ
            self._plain_headers.clear()
            self._plain_rules = rules
        encoded = self._plain_headers.get((topic, client_id))
        if encoded is None:
            if len(self._plain_headers) >= _PLAIN_HEADERS_MAX:
                self._plain_headers.clear()
            encoded = encode_headers(record_headers(publish, topic, client_id, mapped))
            self._plain_headers[topic, client_id] = encoded
        return encoded

    async def _exactly_once(
        self,
        session: LiveSession,
        publish: Publish,
        mapped: Mapped,
        headers: list[Header],
        waiter: Waiter,
    ) -> None:
        try:
            await self.exactly_once.store(
                session, publish.packet_id, mapped.topic, mapped.key, publish.payload,
                headers, self._wall_ms(),
            )  # fmt: skip
        except LogdError as exc:
            _log.info("mqtt %s: QoS 2 message not stored: %s", session.client_id, exc)
            waiter.stored(publish.packet_id, 2, reason_for(exc), str(exc))
            return
        waiter.stored(publish.packet_id, 2, ReasonCode.SUCCESS)

    async def released(self, session: LiveSession, packet_id: int) -> None:
        """QoS 2: PUBREL read; the release is durable on return."""
        if session.persistent:
            await self.exactly_once.release(session, packet_id)
