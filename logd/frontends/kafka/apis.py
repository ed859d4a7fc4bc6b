"""What an API handler is, and the per-request context it gets.

An API is served by one module under ``handlers/`` holding a function
``handle(ctx, request)`` and by one line in :mod:`logd.frontends.kafka.table` naming its
key, the version range advertised in ApiVersions and the handler. The request arrives
decoded into kio's dataclass of that version; the handler answers with a ``dict`` tree (or
a kio instance) that :mod:`~logd.frontends.kafka.schema_codec` writes in the response schema
of the same version — keys that a version lacks are ignored, so one dict serves them all.

A handler returns its answer, or an awaitable of it. Requests of one connection are handled
one after the other, as Kafka handles them; a handler marked ``pipelined`` (Produce) does
its ordered part synchronously before it returns and only *waits* asynchronously, so the
next request starts at once while the answers still go out in order.

Handlers parse, call the core through the broker seam, and map answers to Kafka's fields:
no broker logic lives here (docs/internals.md).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from logd.broker.seam import ANONYMOUS, Caller
from logd.frontends.kafka.header import RequestHeader

if TYPE_CHECKING:
    from logd.frontends.kafka.sasl import SaslState
    from logd.frontends.kafka.server_context import ServerContext

__all__ = [
    "Answer",
    "Api",
    "Handler",
    "RequestContext",
    "Silence",
    "api_table",
]

#: A response: a dict tree (or kio instance) of the response schema of the request version.
Answer = Mapping[str, Any] | Any
Handler = Callable[["RequestContext", Any], "Answer | Awaitable[Answer]"]


class Silence(enum.Enum):
    """What a handler returns instead of an answer (Produce with acks=0)."""

    NO_ANSWER = enum.auto()  # nothing is written
    CLOSE = enum.auto()  # close the connection once earlier answers are out


@dataclasses.dataclass(frozen=True, slots=True)
class Api:
    """One line of the API table."""

    key: int
    name: str
    #: The range advertised in ApiVersions.
    min_version: int
    max_version: int
    handler: Handler
    #: Versions below this are advertised but answered UNSUPPORTED_VERSION (Produce v0-2:
    #: Kafka 4 does the same, for old librdkafka's sake; KAFKA-18659). Needs ``refuse``.
    served_from: int | None = None
    #: Answers a request of a refused version: ``refuse(header, body) -> bytes``, or None
    #: to close the connection (an acks=0 produce).
    refuse: Callable[[RequestHeader, bytes], bytes | None] | None = None
    pipelined: bool = False

    def __post_init__(self) -> None:
        assert 0 <= self.min_version <= self.max_version, self
        assert (self.served_from is None) == (self.refuse is None), self


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """Everything a handler knows about the request it serves."""

    header: RequestHeader
    server: ServerContext
    #: ``host:port`` of the client.
    peer: str
    #: The connection's authentication (SaslHandshake/SaslAuthenticate change it).
    auth: SaslState | None = None

    @property
    def version(self) -> int:
        return self.header.api_version

    @property
    def caller(self) -> Caller:
        """Who asks, for the seam's one check: the connection's authenticated principal."""
        principal = self.auth.principal if self.auth is not None else ANONYMOUS.principal
        return Caller(
            principal=principal,
            client_id=self.header.client_id or "",
            listener="kafka",
            address=self.peer,
        )


def api_table(*apis: Api) -> Mapping[int, Api]:
    """Index the table by API key (a key listed twice is a bug)."""
    table: dict[int, Api] = {}
    for api in apis:
        assert api.key not in table, f"API key {api.key} listed twice"
        table[api.key] = api
    return dict(sorted(table.items()))
