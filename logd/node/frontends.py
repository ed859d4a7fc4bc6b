"""How front ends plug into a node: the :class:`FrontEnd` protocol and :data:`FRONT_ENDS`, the
registry of the front ends that exist, by listener name.

A new front end is one class and one line here. The class implements :class:`FrontEnd` and
takes what it needs as plain values: ``node.seam`` (``logd.broker.seam``, whose docstring
says what a front end may call and how it maps errors and drains), its address, its own
settings dataclass, TLS settings. Its factory lives HERE, in the composition root: it is
the one place that reads the broker's config and the open node (a front end imports neither
``logd.broker.config`` nor ``logd.node``; tests/test_layering.py holds it). The line maps the
listener's name (``logd.broker.listeners.LISTENERS``: ``kafka``, ``registry``, ``http``,
``admin``, ``mqtt``) to the factory.

The node starts every registered front end whose listener is not ``off`` once the broker
serves, records the address each bound, and stops them all on shutdown: ``begin_drain`` on
each, the core drains, then ``stop(grace)`` on each, concurrently. A listener whose front
end is not registered yet is accepted in the config and simply not started (the node logs
it once at DEBUG). The gRPC front end is not in the registry: it carries the cluster's
internal service, so the node binds and starts it before the cluster forms
(``logd.node.runner``).

Each factory imports its front end when it is called, not when this module is imported: a
listener that is ``off`` costs nothing at start-up (the Kafka, HTTP, registry, admin and MQTT
front ends with their libraries are most of a broker's import time), and an enabled one pays
once, when the node starts it after the cluster formed. ``tests/test_startup_imports.py``
holds that importing the composition root loads none of them.

Ownership: front ends live on the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from logd.broker.config import BrokerConfig
from logd.metadata.types import HostPort
from logd.node.build import BrokerNode

if TYPE_CHECKING:
    from logd.frontends.admin.server import AdminFrontEnd
    from logd.frontends.http.server import HttpFrontEnd
    from logd.frontends.kafka.listener import KafkaListener
    from logd.frontends.mqtt.server import MqttServer
    from logd.frontends.registry.server import RegistryFrontEnd

__all__ = ["FRONT_ENDS", "FrontEnd", "FrontEndFactory", "http_front_end", "kafka_front_end"]


class FrontEnd(Protocol):
    """One listener's server."""

    async def start(self) -> HostPort:
        """Bind (port 0: any free port) and start accepting; the address actually bound.
        A port in use raises ``InvalidConfigError`` with one clear line."""
        ...

    def begin_drain(self) -> None:
        """Shutting down: accept no new connections, read no new requests."""
        ...

    async def stop(self, grace_s: float) -> None:
        """Let the requests in flight finish for ``grace_s``, then cancel them and close
        every connection. Called again (a second signal) with 0: cancel now."""
        ...


FrontEndFactory = Callable[[HostPort, BrokerConfig, BrokerNode], FrontEnd]


def kafka_front_end(address: HostPort, config: BrokerConfig, node: BrokerNode) -> KafkaListener:
    from logd.frontends.kafka.listener import KafkaListener
    from logd.frontends.kafka.settings import KafkaSettings

    settings = KafkaSettings(
        socket_request_max_bytes=config.socket_request_max_bytes,
        connections_max_idle_ms=config.connections_max_idle_ms,
        max_connections=config.max_connections,
        queued_max_requests=config.queued_max_requests,
        drain_grace_ms=config.shutdown_grace_ms,
    )
    return KafkaListener(
        node.seam,
        address,
        advertised=config.listeners.advertised_kafka,
        settings=settings,
        tls=config.tls,
    )


def admin_front_end(address: HostPort, config: BrokerConfig, node: BrokerNode) -> AdminFrontEnd:
    """Metrics, health and the web console (issue 20): its limits are its own constants; it
    takes the broker's TLS files (and so its client-certificate rule) like every listener,
    and reads the schema registry's state through the node (None while the registry is
    off), so neither front end imports the other."""
    from logd.frontends.admin.server import AdminFrontEnd

    # Late-bound: the registry front end may be built after this one and sets the slot then.
    schemas = lambda: node.registry_state()  # noqa: E731, PLW0108
    return AdminFrontEnd(address, node.seam, tls=config.tls, schemas=schemas)


def mqtt_front_end(address: HostPort, config: BrokerConfig, node: BrokerNode) -> MqttServer:
    """The ``mqtt.*`` keys are the front end's own (``logd.frontends.mqtt.settings``); it
    reaches partitions led anywhere through ``node.router``. Its internal topics get
    min(3, brokers) replicas unless ``mqtt.internal.replication.factor`` says. MQTT over
    WebSocket is its route ``/mqtt`` on the HTTP listener (when that serves)."""
    from logd.frontends.mqtt.server import MqttServer
    from logd.frontends.mqtt.settings import parse_settings as parse_mqtt_settings
    from logd.frontends.mqtt.websocket import PATH as MQTT_WEBSOCKET_PATH
    from logd.frontends.mqtt.websocket import mqtt_route

    settings = parse_mqtt_settings(config.frontend_settings.get("mqtt", {}))
    rf = settings.internal_replication_factor or min(3, max(1, len(config.peers)))
    server = MqttServer(
        address, node.router, settings, internal_replication_factor=rf, tls=config.tls
    )
    node.http_mounts.mount(MQTT_WEBSOCKET_PATH, mqtt_route(server))
    return server


def http_front_end(address: HostPort, config: BrokerConfig, node: BrokerNode) -> HttpFrontEnd:
    """The REST proxy and STOMP; other front ends' routes come through ``node.http_mounts``
    (``logd.frontends.http.mounts``). The ``http.*`` keys are checked here, at start."""
    from logd.frontends.http.server import HttpFrontEnd
    from logd.frontends.http.settings import parse_settings as parse_http_settings

    settings = parse_http_settings(config.frontend_settings.get("http", {}))
    scheme = "https" if config.tls.enabled else "http"

    def registry_url() -> str | None:
        """This broker's registry, as advertised once every listener is bound."""
        store = node.cluster.store
        endpoint = store.me.endpoint("registry") if store is not None else None
        return None if endpoint is None else f"{scheme}://{endpoint.host}:{endpoint.port}"

    return HttpFrontEnd(address, node.seam, settings, tls=config.tls, mounts=node.http_mounts,
                        registry_url=registry_url)  # fmt: skip


def registry_front_end(
    address: HostPort, config: BrokerConfig, node: BrokerNode
) -> RegistryFrontEnd:
    """Confluent's Schema Registry API over ``_schemas`` (``logd.frontends.registry``); its
    applied state is also the admin console's (``node.registry_state``)."""
    from logd.frontends.registry.server import RegistryFrontEnd

    front = RegistryFrontEnd(address, node.seam, config.tls)
    node.registry_state = lambda: front.store.state if front.store is not None else None
    return front


#: listener name -> factory. One line per front end.
FRONT_ENDS: dict[str, FrontEndFactory] = {
    "kafka": kafka_front_end,
    "admin": admin_front_end,
    "http": http_front_end,
    "mqtt": mqtt_front_end,
    "registry": registry_front_end,
}
