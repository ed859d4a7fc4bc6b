"""The Kafka listener's settings, under Kafka's broker config names.

``socket.request.max.bytes`` (100 MiB, as Kafka) bounds a request's size prefix before
anything is allocated; ``connections.max.idle.ms`` (10 min, as Kafka) closes connections
that sent no whole request and await no answer for that long (a request dribbled in byte by
byte counts as idle, so such a client cannot hold a connection forever); ``max.connections``
bounds the open connections (Kafka's default is unbounded; ours is not: every resource is
bounded, DESIGN.md principle 8); ``queued.max.requests`` bounds the requests one connection
may have in flight before the listener stops reading it.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from logd.errors import InvalidConfigError

__all__ = ["DEFAULT_KAFKA_PORT", "KafkaSettings"]

DEFAULT_KAFKA_PORT: Final = 9092
_MIB: Final = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class KafkaSettings:
    #: Kafka's ``socket.request.max.bytes``.
    socket_request_max_bytes: int = 100 * _MIB
    #: Kafka's ``connections.max.idle.ms``.
    connections_max_idle_ms: int = 600_000
    #: Kafka's ``max.connections`` (bounded here).
    max_connections: int = 4096
    #: Requests one connection may have in flight (answers not yet written).
    queued_max_requests: int = 500
    #: Bytes of requests read ahead of the one being handled, per connection.
    read_ahead_bytes: int = 4 * _MIB
    #: Shutdown: how long the answers in flight may take before connections are cut.
    drain_grace_ms: int = 10_000

    def __post_init__(self) -> None:
        for name in (
            "socket_request_max_bytes",
            "connections_max_idle_ms",
            "max_connections",
            "queued_max_requests",
            "read_ahead_bytes",
        ):
            if getattr(self, name) <= 0:
                key = name.replace("_", ".")
                raise InvalidConfigError(f"{key} must be positive, not {getattr(self, name)}")
        if self.drain_grace_ms < 0:
            raise InvalidConfigError(f"drain grace must be >= 0, not {self.drain_grace_ms}")
