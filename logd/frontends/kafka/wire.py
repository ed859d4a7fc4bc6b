"""The one boundary between the core's answers and Kafka's fields (STYLE.md 11): error
codes, topic ids, brokers' Kafka addresses, durations.

Every handler maps through these, so an error or an address means the same in every API.
Pure: no I/O.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from logd.broker.api import BrokerMeta
from logd.errors import LogdError
from logd.security.acl import ResourceType

if TYPE_CHECKING:
    from logd.frontends.kafka.apis import RequestContext

__all__ = [
    "OPERATIONS_OMITTED",
    "authorized_operations",
    "by_topic",
    "client_host",
    "error_code",
    "error_message",
    "kafka_address",
    "kafka_brokers",
    "ms",
    "topic_uuid",
]


def error_code(error: LogdError | None) -> int:
    """Kafka's code of a per-item error (0: none)."""
    return 0 if error is None else int(error.code)


def error_message(error: LogdError | None) -> str | None:
    return None if error is None else str(error) or None


def client_host(peer: str) -> str:
    """A client's ``HOST:PORT`` (``[V6]:PORT``) as a group member's client host: the host
    alone, spelled as the gRPC front end spells it, so one group reads the same whichever
    door its members use."""
    host, sep, port = peer.rpartition(":")
    if not sep or not port.isdigit():
        return peer
    return host.strip("[]")


#: An ``authorized_operations`` field not asked for (Kafka's AUTHORIZED_OPERATIONS_OMITTED).
OPERATIONS_OMITTED = -(2**31)


def authorized_operations(
    ctx: RequestContext, resource_type: ResourceType, name: str, asked: bool
) -> int:
    """Kafka's 32-bit ``authorized_operations`` field of one resource (``Utils.to32BitField``:
    bit ``code`` set for each operation the caller may do, as the seam's one authorizer
    says); ``OPERATIONS_OMITTED`` when the request did not ask for it."""
    if not asked:
        return OPERATIONS_OMITTED
    field = 0
    for operation in ctx.server.broker.authorized_operations(ctx.caller, resource_type, name):
        field |= 1 << int(operation)
    return field


def topic_uuid(topic_id: str) -> uuid.UUID | None:
    """The core's topic id (hex text) as Kafka's UUID; None (the zero UUID) when unset."""
    if not topic_id:
        return None
    try:
        return uuid.UUID(hex=topic_id)
    except ValueError:
        return None


def ms(value: datetime.timedelta | int) -> int:
    """A kio duration field in milliseconds."""
    if isinstance(value, int):
        return value
    return round(value.total_seconds() * 1000)


def kafka_address(ctx: RequestContext, broker: BrokerMeta) -> tuple[str, int]:
    """Where Kafka clients reach ``broker`` (a ``BrokerMeta``): its advertised Kafka
    listener; this broker's own is the listener's advertised address."""
    if broker.node_id == ctx.server.broker.node_id:
        return ctx.server.advertised_host, ctx.server.advertised_port
    endpoint = broker.endpoint("kafka")
    if endpoint is None:
        return broker.host, -1  # no Kafka listener: clients cannot connect there
    return endpoint.host, endpoint.port


def kafka_brokers(ctx: RequestContext, brokers: Iterable[BrokerMeta]) -> list[dict[str, Any]]:
    """Metadata's broker list: the live brokers that have a Kafka listener."""
    out = []
    for b in brokers:
        if not b.alive:
            continue
        host, port = kafka_address(ctx, b)
        if port < 0:
            continue
        out.append({"node_id": b.node_id, "host": host, "port": port, "rack": b.rack or None})
    return out


def by_topic(
    results: Iterable[Any], partition: Callable[[Any], dict[str, Any]], name_key: str
) -> list[dict[str, Any]]:
    """Per-partition results (each with a ``topic``) grouped into Kafka's topic list, in
    first-seen order: ``[{name_key: topic, "partitions": [partition(r), ...]}, ...]``."""
    topics: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        topics.setdefault(r.topic, []).append(partition(r))
    return [{name_key: name, "partitions": parts} for name, parts in topics.items()]
