"""The asyncio clients (aiokafka's shapes): ``AsyncProducer``, ``AsyncConsumer``, ``AsyncAdmin``.

Each runs on the event loop it was started on (``async with ...``); none is thread-safe.
"""

from logd.client.aio.admin import AsyncAdmin
from logd.client.aio.consumer import AsyncConsumer
from logd.client.aio.producer import AsyncProducer

__all__ = ["AsyncAdmin", "AsyncConsumer", "AsyncProducer"]
