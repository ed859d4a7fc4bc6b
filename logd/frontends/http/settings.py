"""The HTTP listener's settings: the ``http.*`` keys of the broker's config (TOML file;
``BrokerConfig.frontend_settings["http"]``), checked when the listener starts.

Pure. Every key, its default and its bounds (Confluent REST Proxy's names where it has one)::

    http.listen = "127.0.0.1:8082"                 # the listener (logd.broker.listeners) or "off"
    http.max.request.bytes = 16777216              # a body (after gzip) larger: 413
    http.request.timeout.ms = 30000                # reading a body, waiting for an append
    http.keepalive.timeout.s = 75                  # an idle keep-alive connection is closed
    http.max.connections = 10000                   # more are answered 503 and closed
    http.producer.acks = "all"                     # all | 1 | 0: what a produce waits for
    http.auto.create.topics = true                 # a produce to a missing topic creates it
    http.access.control.allow.origin = ""          # CORS: "" off, "*" or a comma list
    http.access.control.allow.methods = "GET,POST,PUT,DELETE,HEAD,OPTIONS"
    http.access.control.allow.headers = "Authorization,Content-Type,Accept,Content-Encoding"
    http.consumer.instance.timeout.ms = 300000     # an idle consumer instance is destroyed
    http.consumer.request.timeout.ms = 1000        # GET records waits at most this by default
    http.consumer.request.max.bytes = 67108864     # GET records answers at most this
    http.consumer.max.instances = 1000             # more: 50003 (retry on another broker)
    http.schema.registry.url = ""                  # avro/jsonschema: "" = this broker's registry
    http.stomp.max.frame.bytes = 1049600           # a larger STOMP frame: ERROR, closed
    http.stomp.heartbeat.ms = 10000                # what the server offers and asks (0: none)
    http.stomp.max.subscriptions = 64              # per connection
    http.stomp.max.unacked = 1000                  # per subscription (client acks) before pausing
    http.stomp.send.buffer.bytes = 4194304         # frames waiting for a slow browser
    http.stomp.slow.consumer.timeout.ms = 30000    # a full buffer that long: ERROR, closed
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from logd.errors import InvalidConfigError

__all__ = ["HttpSettings", "StompSettings", "parse_settings"]

_MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class StompSettings:
    max_frame_bytes: int = _MIB + 1024
    heartbeat_ms: int = 10_000
    max_subscriptions: int = 64
    max_unacked: int = 1000
    send_buffer_bytes: int = 4 * _MIB
    slow_consumer_timeout_ms: int = 30_000


@dataclasses.dataclass(frozen=True, slots=True)
class HttpSettings:
    max_request_bytes: int = 16 * _MIB
    request_timeout_ms: int = 30_000
    keepalive_timeout_s: int = 75
    max_connections: int = 10_000
    producer_acks: int = -1
    auto_create_topics: bool = True
    #: CORS (Confluent's ``access.control.allow.*``); no origins: no CORS headers at all.
    allow_origins: tuple[str, ...] = ()
    allow_methods: str = "GET,POST,PUT,DELETE,HEAD,OPTIONS"
    allow_headers: str = "Authorization,Content-Type,Accept,Content-Encoding"
    consumer_instance_timeout_ms: int = 300_000
    consumer_request_timeout_ms: int = 1000
    consumer_request_max_bytes: int = 64 * _MIB
    consumer_max_instances: int = 1000
    #: Where avro/jsonschema schemas are registered and fetched ("": this broker's registry).
    schema_registry_url: str = ""
    stomp: StompSettings = dataclasses.field(default_factory=StompSettings)


#: key -> (field, low, high); a field of ``stomp.`` keys lives in StompSettings.
_INTS: Final[dict[str, tuple[str, int, int]]] = {
    "max.request.bytes": ("max_request_bytes", 1024, 2**31 - 1),
    "request.timeout.ms": ("request_timeout_ms", 10, 3_600_000),
    "keepalive.timeout.s": ("keepalive_timeout_s", 0, 86_400),
    "max.connections": ("max_connections", 1, 1_000_000),
    "consumer.instance.timeout.ms": ("consumer_instance_timeout_ms", 100, 86_400_000),
    "consumer.request.timeout.ms": ("consumer_request_timeout_ms", 0, 600_000),
    "consumer.request.max.bytes": ("consumer_request_max_bytes", 1024, 2**31 - 1),
    "consumer.max.instances": ("consumer_max_instances", 1, 1_000_000),
    "stomp.max.frame.bytes": ("max_frame_bytes", 1024, 2**30),
    "stomp.heartbeat.ms": ("heartbeat_ms", 0, 3_600_000),
    "stomp.max.subscriptions": ("max_subscriptions", 1, 10_000),
    "stomp.max.unacked": ("max_unacked", 1, 1_000_000),
    "stomp.send.buffer.bytes": ("send_buffer_bytes", 64 * 1024, 2**30),
    "stomp.slow.consumer.timeout.ms": ("slow_consumer_timeout_ms", 10, 3_600_000),
}
_STRINGS: Final = {
    "access.control.allow.methods": "allow_methods",
    "access.control.allow.headers": "allow_headers",
    "schema.registry.url": "schema_registry_url",
}
_ACKS: Final = {"all": -1, "-1": -1, "1": 1, "0": 0}
_OTHERS: Final = {"producer.acks", "auto.create.topics", "access.control.allow.origin"}


def _int(key: str, value: Any) -> int:
    _, low, high = _INTS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidConfigError(f"http.{key}: expected an integer in {low}..{high}")
    return value


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidConfigError(f"http.{key}: expected a string")
    return value.strip()


def parse_settings(raw: Mapping[str, Any]) -> HttpSettings:
    """``raw``: the ``http.*`` keys without the prefix (InvalidConfigError on a bad one)."""
    unknown = raw.keys() - _INTS.keys() - _STRINGS.keys() - _OTHERS
    if unknown:
        raise InvalidConfigError(f"unknown broker config key http.{sorted(unknown)[0]}")
    top: dict[str, Any] = {}
    stomp: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _INTS:
            (stomp if key.startswith("stomp.") else top)[_INTS[key][0]] = _int(key, value)
        elif key in _STRINGS:
            top[_STRINGS[key]] = _str(key, value)
    acks = str(raw.get("producer.acks", "all")).strip().lower()
    if acks not in _ACKS:
        raise InvalidConfigError("http.producer.acks: expected all, 1 or 0")
    auto = raw.get("auto.create.topics", True)
    if not isinstance(auto, bool):
        raise InvalidConfigError("http.auto.create.topics: expected true or false")
    origin = _str("access.control.allow.origin", raw.get("access.control.allow.origin", ""))
    origins = tuple(o.strip() for o in origin.split(",") if o.strip())
    return HttpSettings(
        **top,
        producer_acks=_ACKS[acks],
        auto_create_topics=auto,
        allow_origins=origins,
        stomp=StompSettings(**stomp),
    )
