"""The asyncio clients (aiokafka's shapes): ``AsyncProducer``, ``AsyncConsumer``, ``AsyncAdmin``
(and ``AsyncSecurityAdmin``: users, ACLs, quotas).

Each runs on the event loop it was started on (``async with ...``); none is thread-safe.
"""

from logd.client.aio.admin import AsyncAdmin
from logd.client.aio.consumer import AsyncConsumer
from logd.client.aio.producer import AsyncProducer
from logd.client.aio.security_admin import AsyncSecurityAdmin

__all__ = ["AsyncAdmin", "AsyncConsumer", "AsyncProducer", "AsyncSecurityAdmin"]
