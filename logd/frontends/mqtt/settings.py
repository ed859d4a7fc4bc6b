"""The MQTT listener's settings: the ``mqtt.*`` keys of the broker's config (TOML file or
flags; ``BrokerConfig.frontend_settings["mqtt"]``), checked when the listener starts.

Pure. Every key, its default and its bounds::

    mqtt.listen = "127.0.0.1:1883"        # the listener (logd.broker.listeners), or "off"
    mqtt.rules = "mqtt-rules.toml"        # --mqtt-rules; none: the default rules
    mqtt.max.connections = 100000         # beyond it a CONNECT is refused (Server busy)
    mqtt.receive.maximum = 256            # unacknowledged QoS 1/2 PUBLISHes per connection
    mqtt.max.packet.bytes = 1049600       # the largest packet read (Packet too large)
    mqtt.topic.alias.maximum = 64
    mqtt.keep.alive.max.s = 0             # 0: the client's own keep-alive is accepted
    mqtt.session.expiry.max.s = 4294967295
    mqtt.connect.timeout.ms = 10000       # from accept to a whole CONNECT
    mqtt.packet.timeout.ms = 60000        # a packet begun must be whole within this
    mqtt.auto.create.topics = true        # a rule's topic is created on first use
    mqtt.write.buffer.bytes = 1048576     # a subscriber's unsent bytes before we pause
    mqtt.internal.replication.factor = 0  # of __mqtt_sessions/__mqtt_retained (0: min(3, N))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logd.errors import InvalidConfigError
from logd.frontends.mqtt.connection import ConnectionLimits

__all__ = ["MqttSettings", "parse_settings"]


@dataclasses.dataclass(frozen=True, slots=True)
class MqttSettings:
    rules: Path | None = None
    max_connections: int = 100_000
    limits: ConnectionLimits = dataclasses.field(default_factory=ConnectionLimits)
    connect_timeout_ms: int = 10_000
    packet_timeout_ms: int = 60_000
    auto_create_topics: bool = True
    write_buffer_bytes: int = 1024 * 1024
    internal_replication_factor: int = 0


_INTS: dict[str, tuple[int, int]] = {
    "max.connections": (1, 10_000_000),
    "receive.maximum": (1, 65_535),
    "max.packet.bytes": (64, 268_435_460),
    "topic.alias.maximum": (0, 65_535),
    "keep.alive.max.s": (0, 65_535),
    "session.expiry.max.s": (0, 0xFFFFFFFF),
    "connect.timeout.ms": (10, 3_600_000),
    "packet.timeout.ms": (10, 3_600_000),
    "write.buffer.bytes": (1024, 1 << 30),
    "internal.replication.factor": (0, 32),
}


def _int(key: str, value: Any) -> int:
    low, high = _INTS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidConfigError(f"mqtt.{key}: expected an integer in {low}..{high}")
    return value


def parse_settings(raw: Mapping[str, Any]) -> MqttSettings:
    """``raw``: the ``mqtt.*`` keys without the prefix."""
    unknown = raw.keys() - _INTS.keys() - {"rules", "auto.create.topics"}
    if unknown:
        raise InvalidConfigError(f"unknown broker config key mqtt.{sorted(unknown)[0]}")
    ints = {k: _int(k, v) for k, v in raw.items() if k in _INTS}
    rules = raw.get("rules")
    if rules is not None and not isinstance(rules, str):
        raise InvalidConfigError("mqtt.rules: expected a file name")
    auto = raw.get("auto.create.topics", True)
    if not isinstance(auto, bool):
        raise InvalidConfigError("mqtt.auto.create.topics: expected true or false")
    base = ConnectionLimits()
    limits = ConnectionLimits(
        receive_maximum=ints.get("receive.maximum", base.receive_maximum),
        topic_alias_maximum=ints.get("topic.alias.maximum", base.topic_alias_maximum),
        maximum_packet_size=ints.get("max.packet.bytes", base.maximum_packet_size),
        server_keep_alive=ints.get("keep.alive.max.s") or None,
        session_expiry_maximum=ints.get("session.expiry.max.s", base.session_expiry_maximum),
    )
    defaults = MqttSettings()
    return MqttSettings(
        rules=Path(rules) if rules else None,
        max_connections=ints.get("max.connections", defaults.max_connections),
        limits=limits,
        connect_timeout_ms=ints.get("connect.timeout.ms", defaults.connect_timeout_ms),
        packet_timeout_ms=ints.get("packet.timeout.ms", defaults.packet_timeout_ms),
        auto_create_topics=auto,
        write_buffer_bytes=ints.get("write.buffer.bytes", defaults.write_buffer_bytes),
        internal_replication_factor=ints.get("internal.replication.factor", 0),
    )
