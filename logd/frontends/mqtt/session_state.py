"""What a persistent MQTT session is, as one record of ``__mqtt_sessions`` (keyed by client
identifier; a tombstone ends the session), and how it is written and read back.

Pure. The value is JSON, versioned (``"v": 1``): readable by a person with ``logd consume
__mqtt_sessions``, and small (a session is written when it connects, subscribes,
unsubscribes, releases a QoS 2 message and disconnects — not per message). What it holds:

* ``gen`` and ``broker`` — a session claimed by a connection on ``broker`` with a
  generation one above the last; a broker that sees a higher generation for a session it
  serves knows the client reconnected elsewhere and drops its connection (take-over across
  brokers, [MQTT-3.1.4-3]); a late write with an older generation is ignored;
* ``expiry`` (seconds) and ``gone_ms`` (when its connection ended; None while connected);
* ``subs`` — the subscriptions and their options; their positions live in the consumer
  group ``mqtt-<client id>`` (``logd group describe`` shows a device's lag);
* ``qos2`` — QoS 2 packet identifiers stored and not yet released, with the idempotent
  producer's id, epoch and next sequence per partition (see :mod:`.exactly_once`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from logd.frontends.mqtt.packets import RetainHandling, Subscription

__all__ = [
    "NEVER",
    "Qos2Pending",
    "SessionState",
    "decode_session",
    "encode_session",
    "group_id_for",
]

NEVER = 0xFFFFFFFF  # Session Expiry Interval: the session never expires


def group_id_for(client_id: str) -> str:
    """The consumer group holding a session's positions."""
    return f"mqtt-{client_id}"


@dataclass(frozen=True, slots=True)
class SavedSubscription:
    subscription: Subscription
    identifier: int | None = None


@dataclass(frozen=True, slots=True)
class Qos2Pending:
    """A QoS 2 message written (or being written) with the session's producer: where, under
    which sequence, and the record itself, so that a broker resuming the session can write
    it again under the same sequence (a duplicate the log recognises and drops)."""

    topic: str
    partition: int
    sequence: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int
    stored: bool = False  # committed; PUBREC sent


@dataclass(frozen=True, slots=True)
class SessionState:
    client_id: str
    gen: int
    broker: int
    expiry: int
    gone_ms: int | None = None
    subs: tuple[SavedSubscription, ...] = ()
    producer_id: int = -1
    producer_epoch: int = -1
    sequences: tuple[tuple[str, int, int], ...] = ()  # (topic, partition, next sequence)
    qos2: tuple[tuple[int, Qos2Pending], ...] = field(default=())  # by packet identifier

    def expired(self, now_ms: int) -> bool:
        if self.gone_ms is None or self.expiry == NEVER:
            return False
        return now_ms >= self.gone_ms + self.expiry * 1000


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    return None if text is None else base64.b64decode(str(text), validate=True)


def encode_session(s: SessionState) -> bytes:
    doc: dict[str, Any] = {
        "v": 1,
        "client": s.client_id,
        "gen": s.gen,
        "broker": s.broker,
        "expiry": s.expiry,
        "gone_ms": s.gone_ms,
        "subs": [
            {
                "f": x.subscription.filter,
                "q": x.subscription.qos,
                "nl": x.subscription.no_local,
                "rap": x.subscription.retain_as_published,
                "rh": int(x.subscription.retain_handling),
                "id": x.identifier,
            }
            for x in s.subs
        ],
    }
    if s.producer_id >= 0:
        doc["pid"] = [s.producer_id, s.producer_epoch]
        doc["seq"] = [list(x) for x in s.sequences]
        doc["qos2"] = {
            str(pid): {
                "t": q.topic, "p": q.partition, "s": q.sequence, "k": _b64(q.key),
                "v": _b64(q.value), "ts": q.timestamp, "done": q.stored,
                "h": [[n, _b64(v)] for n, v in q.headers],
            }
            for pid, q in s.qos2
        }  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def decode_session(data: bytes) -> SessionState:
    """Raises ValueError (or KeyError/TypeError) for a value that is not a session."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise ValueError("not a version 1 session record")
    subs = tuple(
        SavedSubscription(
            Subscription(
                str(x["f"]), int(x["q"]), bool(x["nl"]), bool(x["rap"]), RetainHandling(x["rh"])
            ),
            None if x.get("id") is None else int(x["id"]),
        )
        for x in doc["subs"]
    )
    pid, epoch = doc.get("pid", [-1, -1])
    qos2 = tuple(
        (
            int(packet_id),
            Qos2Pending(
                str(q["t"]), int(q["p"]), int(q["s"]), _unb64(q["k"]), _unb64(q["v"]) or b"",
                tuple((str(n), _unb64(v)) for n, v in q["h"]), int(q["ts"]), bool(q["done"]),
            ),
        )
        for packet_id, q in doc.get("qos2", {}).items()
    )  # fmt: skip
    return SessionState(
        client_id=str(doc["client"]),
        gen=int(doc["gen"]),
        broker=int(doc["broker"]),
        expiry=int(doc["expiry"]),
        gone_ms=None if doc["gone_ms"] is None else int(doc["gone_ms"]),
        subs=subs,
        producer_id=int(pid),
        producer_epoch=int(epoch),
        sequences=tuple((str(t), int(p), int(n)) for t, p, n in doc.get("seq", [])),
        qos2=qos2,
    )
