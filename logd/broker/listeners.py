"""The broker's listeners beside gRPC: their config keys, flags and defaults (DESIGN.md "Front
ends and listeners"), parsed into :class:`Listeners`.

Each listener is ``HOST:PORT`` (port 0: any free port; the node reports what it bound) or
``off``. Keys use logd's dotted names (``kafka.listen`` …); the TOML file also accepts Kafka's
and Redpanda's names where they exist: Kafka's ``listeners`` / ``advertised.listeners``
(``PLAINTEXT://HOST:PORT``, one listener) and Redpanda's ``redpanda.kafka_api``,
``redpanda.advertised_kafka_api``, ``schema_registry.schema_registry_api``,
``pandaproxy.pandaproxy_api``, ``redpanda.admin``, ``redpanda.rpc_server``
(``"HOST:PORT"`` or Redpanda's ``[[redpanda.kafka_api]] address = … port = …`` form). When
both spellings are given, logd's own name wins (so a flag overrides the file whatever name
the file used).

Which listeners are served is the node's business (``logd.node.frontends``): a listener
whose front end does not exist yet is accepted here and simply not started. ``rpc`` (the
brokers' Raft TCP listener, ``logd.cluster.rpc_listener``) is no front end: the node starts it
with the internal gRPC service and it is never advertised to clients. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from logd.errors import InvalidConfigError
from logd.metadata.types import HostPort

__all__ = [
    "ADVERTISED_KAFKA",
    "BROKER_ONLY",
    "LISTENERS",
    "ListenerSpec",
    "Listeners",
    "is_listener_key",
    "parse_host_port",
    "parse_listener",
    "parse_listeners",
]

OFF: Final = "off"


@dataclasses.dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listener: its name (the front end's), config key, flag, default and what it
    speaks; ``aliases`` are Kafka's and Redpanda's names of the same key."""

    name: str
    key: str
    flag: str
    default: str
    speaks: str
    aliases: tuple[str, ...] = ()


#: Every listener of DESIGN.md except gRPC (``listen``, in ``logd.broker.config``).
LISTENERS: Final = (
    ListenerSpec("kafka", "kafka.listen", "--kafka-listen", "127.0.0.1:9092",
                 "the Kafka wire protocol", ("listeners", "redpanda.kafka_api")),
    ListenerSpec("registry", "registry.listen", "--registry-listen", "127.0.0.1:8081",
                 "the Confluent Schema Registry REST API",
                 ("schema_registry.schema_registry_api",)),
    ListenerSpec("http", "http.listen", "--http-listen", "127.0.0.1:8082",
                 "the Confluent REST Proxy and STOMP over WebSocket",
                 ("pandaproxy.pandaproxy_api",)),
    ListenerSpec("admin", "admin.listen", "--admin-listen", "127.0.0.1:9644",
                 "metrics, the web console and health", ("redpanda.admin",)),
    ListenerSpec("mqtt", "mqtt.listen", "--mqtt-listen", "127.0.0.1:1883", "MQTT 3.1.1 and 5.0"),
    ListenerSpec("rpc", "rpc.listen", "--rpc-listen", "127.0.0.1:33145",
                 "Raft frames from the other brokers, length-prefixed over TCP (off: they come"
                 " over the gRPC listener)", ("redpanda.rpc_server",)),
)  # fmt: skip
#: Listeners of the brokers' own traffic: started with the internal gRPC service, before
#: the cluster forms, and never advertised to clients (peers ask for it: ``RaftEndpoint``).
BROKER_ONLY: Final = frozenset({"rpc"})
#: The address Kafka clients are told to use (Kafka's ``advertised.listeners``).
ADVERTISED_KAFKA: Final = ListenerSpec(
    "advertised-kafka", "advertised.kafka.listener", "--advertised-kafka-listener", "",
    "the Kafka listener's address in Metadata answers",
    ("advertised.listeners", "redpanda.advertised_kafka_api"),
)  # fmt: skip
_SPECS: Final = (*LISTENERS, ADVERTISED_KAFKA)
_BY_KEY: Final = {k: spec for spec in _SPECS for k in (spec.key, *spec.aliases)}


@dataclasses.dataclass(frozen=True, slots=True)
class Listeners:
    """Where each listener of :data:`LISTENERS` listens (None: ``off``)."""

    addresses: Mapping[str, HostPort | None] = dataclasses.field(
        default_factory=lambda: MappingProxyType(
            {spec.name: parse_listener(spec.default, spec.key) for spec in LISTENERS}
        )
    )
    #: What Metadata answers carry for the Kafka listener; None: the bound address.
    advertised_kafka: HostPort | None = None

    def address(self, name: str) -> HostPort | None:
        return self.addresses.get(name)

    def known_before_binding(self) -> dict[str, HostPort]:
        """Where clients reach each listener beside gRPC, as far as the config says before
        anything binds: ``--advertised-kafka-listener`` for Kafka, else the listen address;
        a port 0 is known only once bound (the node advertises it then). A broker
        registers these as soon as it starts, so clients know where it is as soon as it
        leads anything again (after a restart, before its front ends are up)."""
        out = {
            name: address
            for name, address in self.addresses.items()
            if name != "grpc" and name not in BROKER_ONLY
            and address is not None and address.port != 0
        }  # fmt: skip
        if self.addresses.get("kafka") is not None and self.advertised_kafka is not None:
            out["kafka"] = self.advertised_kafka
        return out


def parse_host_port(text: str, key: str = "listen") -> HostPort:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6); the port in 0..65535 (0: any free port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise InvalidConfigError(f"{key}: expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise InvalidConfigError(f"{key}: port {port} is out of range 0..65535")
    return HostPort(host, port)


def is_listener_key(key: str) -> bool:
    return key in _BY_KEY


def parse_listener(value: Any, key: str, *, allow_off: bool = True) -> HostPort | None:
    """``HOST:PORT``, ``off``, ``PLAINTEXT://HOST:PORT`` or Redpanda's ``{address, port}``
    (alone or as a one-item list)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        address, port = value.get("address"), value.get("port")
        if not isinstance(address, str) or isinstance(port, bool) or not isinstance(port, int):
            raise InvalidConfigError(f"{key}: expected address = HOST and port = N")
        value = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    if not isinstance(value, str):
        raise InvalidConfigError(f"{key}: expected HOST:PORT or off, got {value!r}")
    text = value.strip()
    if allow_off and text.lower() == OFF:
        return None
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.upper() != "PLAINTEXT":
            raise InvalidConfigError(f"{key}: only PLAINTEXT listeners exist, not {scheme}")
        text = rest
    return parse_host_port(text, key)


def parse_listeners(values: Mapping[str, Any]) -> Listeners:
    """The listener keys of ``values`` (any spelling) over the defaults."""
    chosen: dict[str, tuple[bool, HostPort | None]] = {}
    for key, value in values.items():
        spec = _BY_KEY[key]
        own = key == spec.key
        if spec.name in chosen and chosen[spec.name][0] and not own:
            continue  # logd's own key wins over an alias
        allow_off = spec is not ADVERTISED_KAFKA
        chosen[spec.name] = (own, parse_listener(value, key, allow_off=allow_off))
    defaults = Listeners()
    addresses = dict(defaults.addresses)
    for spec in LISTENERS:
        if spec.name in chosen:
            addresses[spec.name] = chosen[spec.name][1]
    advertised = chosen.get(ADVERTISED_KAFKA.name, (False, None))[1]
    return Listeners(MappingProxyType(addresses), advertised)
