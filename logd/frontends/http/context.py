"""What every route of the HTTP listener shares: the seam, the settings, the producer, the
consumer instances. One per listener, kept in the aiohttp application under
:data:`CONTEXT`.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Final

from aiohttp import web

from logd.broker.seam import BrokerSeam, Caller
from logd.clock import Clock
from logd.frontends.http.auth import CALLER
from logd.frontends.http.producer import TopicProducer
from logd.frontends.http.settings import HttpSettings

if TYPE_CHECKING:
    from logd.frontends.http.consumers.instances import ConsumerInstances
    from logd.frontends.http.schemas import RegistryLink

__all__ = ["CONTEXT", "HttpContext", "caller", "context"]


@dataclasses.dataclass(slots=True)
class HttpContext:
    seam: BrokerSeam
    settings: HttpSettings
    clock: Clock
    producer: TopicProducer
    consumers: ConsumerInstances
    schemas: RegistryLink
    #: Set when the listener drains: long requests wind down, new ones are refused.
    draining: bool = False
    #: The same, for connections that wait on it (STOMP sessions end with an ERROR frame).
    drained: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


CONTEXT: Final = web.AppKey("logd_http", HttpContext)


def context(request: web.Request) -> HttpContext:
    return request.app[CONTEXT]


def caller(request: web.Request) -> Caller:
    """The authenticated caller the listener's middleware left on the request."""
    return request[CALLER]
