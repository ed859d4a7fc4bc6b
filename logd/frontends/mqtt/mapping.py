"""A PUBLISH as a record, and a record as a PUBLISH: the headers both directions agree on.

Pure. A PUBLISH stored in the log carries, besides the key and headers its rule gives:

* ``mqtt-topic`` — the MQTT topic it was published to (always);
* 5.0 user properties, each as a header of its own name (repeats kept, in order);
* ``mqtt-client`` — the publishing client's identifier (5.0's No Local needs it);
* ``mqtt-content-type``, ``mqtt-response-topic``, ``mqtt-correlation-data``,
  ``mqtt-payload-format`` (``1``: UTF-8), ``mqtt-retain`` (``1``) — when present.

Going out, a record without ``mqtt-topic`` (one ``logd produce`` wrote, say) reads as the
topic the rules' reverse direction gives (:meth:`RuleSet.mqtt_topic`), and every header
that is not one of the above becomes a 5.0 user property (a header without a value, or
whose name or value is not UTF-8, is left out: user properties are UTF-8 pairs).
"""

from __future__ import annotations

from logd.frontends.mqtt.packets import Publish
from logd.frontends.mqtt.properties import NO_PROPERTIES, Properties
from logd.frontends.mqtt.rules import Mapped
from logd.records.record import Header, Record

__all__ = [
    "CLIENT_HEADER",
    "TOPIC_HEADER",
    "is_utf8",
    "record_headers",
    "record_publish",
]

TOPIC_HEADER = "mqtt-topic"
CLIENT_HEADER = "mqtt-client"
_CONTENT_TYPE = "mqtt-content-type"
_RESPONSE_TOPIC = "mqtt-response-topic"
_CORRELATION = "mqtt-correlation-data"
_PAYLOAD_FORMAT = "mqtt-payload-format"
_RETAIN = "mqtt-retain"
_OURS = frozenset(
    {TOPIC_HEADER, CLIENT_HEADER, _CONTENT_TYPE, _RESPONSE_TOPIC, _CORRELATION,
     _PAYLOAD_FORMAT, _RETAIN}
)  # fmt: skip


def record_headers(publish: Publish, topic: str, client_id: str, mapped: Mapped) -> list[Header]:
    """The headers of the record a PUBLISH to ``topic`` becomes."""
    headers: list[Header] = [(TOPIC_HEADER, topic.encode("utf-8"))]
    headers += mapped.headers
    props = publish.properties
    if props is not NO_PROPERTIES:
        headers += [(k, v.encode("utf-8")) for k, v in props.user_properties]
        if props.content_type is not None:
            headers.append((_CONTENT_TYPE, props.content_type.encode("utf-8")))
        if props.response_topic is not None:
            headers.append((_RESPONSE_TOPIC, props.response_topic.encode("utf-8")))
        if props.correlation_data is not None:
            headers.append((_CORRELATION, props.correlation_data))
        if props.payload_format_indicator:
            headers.append((_PAYLOAD_FORMAT, b"1"))
    headers.append((CLIENT_HEADER, client_id.encode("utf-8")))
    if publish.retain:
        headers.append((_RETAIN, b"1"))
    return headers


def is_utf8(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def record_publish(record: Record, topic: str, qos: int, version5: bool) -> Publish:
    """The PUBLISH a subscriber gets for ``record`` (its MQTT ``topic`` already found)."""
    props = NO_PROPERTIES
    if version5 and record.headers:
        props = _properties(record.headers)
    return Publish(topic, record.value or b"", qos, properties=props)


def _properties(headers: tuple[Header, ...]) -> Properties:
    user: list[tuple[str, str]] = []
    found: dict[str, bytes] = {}
    for name, value in headers:
        if value is None:
            continue
        if name in _OURS:
            found[name] = value
        elif is_utf8(value) and "\x00" not in name:
            user.append((name, value.decode("utf-8")))
    if not user and not found.keys() - {TOPIC_HEADER, CLIENT_HEADER, _RETAIN}:
        return NO_PROPERTIES
    return Properties(
        payload_format_indicator=1 if found.get(_PAYLOAD_FORMAT) == b"1" else None,
        content_type=_text(found.get(_CONTENT_TYPE)),
        response_topic=_text(found.get(_RESPONSE_TOPIC)),
        correlation_data=found.get(_CORRELATION),
        user_properties=tuple(user),
    )


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8") if value is not None and is_utf8(value) else None
