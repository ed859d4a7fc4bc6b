"""The asyncio clients (aiokafka's shapes): ``AsyncProducer``, ``AsyncConsumer``, ``AsyncAdmin``."""

from logd.client.aio.producer import AsyncProducer

__all__ = ["AsyncProducer"]
