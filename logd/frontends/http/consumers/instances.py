"""The consumer instances of one HTTP listener, by (group, name): created by ``POST
/consumers/{g}``, destroyed by ``DELETE`` or after ``consumer.instance.timeout.ms`` without a
request (Confluent's expiry; a janitor checks every second), at most
``consumer.max.instances`` at once. Like Confluent's, an instance lives in the broker that
created it: its ``base_uri`` names this listener, and another broker answers 40403.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from typing import Final

from logd.broker.seam import BrokerSeam, Caller
from logd.clock import Clock
from logd.frontends.http.consumers.instance import ConsumerInstance, InstanceConfig
from logd.frontends.http.errors import (
    CONSUMER_ALREADY_EXISTS,
    CONSUMER_NOT_FOUND,
    KAFKA_RETRIABLE,
    RestError,
)

__all__ = ["ConsumerInstances"]

_log = logging.getLogger(__name__)
_JANITOR_S: Final = 1.0


class ConsumerInstances:
    """See the module docstring."""

    def __init__(
        self, seam: BrokerSeam, clock: Clock, *, timeout_ms: int, max_instances: int
    ) -> None:
        self._seam = seam
        self._clock = clock
        self.timeout_s = timeout_ms / 1000.0
        self.max_instances = max_instances
        self._instances: dict[tuple[str, str], ConsumerInstance] = {}
        self._janitor: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._instances)

    def create(self, config: InstanceConfig, caller: Caller) -> ConsumerInstance:
        name = config.name or f"rest-consumer-{uuid.uuid4()}"
        key = (config.group, name)
        if key in self._instances:
            raise RestError(
                409,
                CONSUMER_ALREADY_EXISTS,
                "Consumer with specified consumer ID already exists in the specified consumer"
                " group.",
            )
        if len(self._instances) >= self.max_instances:
            raise RestError(
                500, KAFKA_RETRIABLE, f"this broker holds {self.max_instances} consumer"
                " instances already (http.consumer.max.instances); retry later or elsewhere",
            )  # fmt: skip
        named = dataclasses.replace(config, name=name)
        instance = ConsumerInstance(self._seam, named, caller, self._clock)
        self._instances[key] = instance
        if self._janitor is None:
            self._janitor = asyncio.get_running_loop().create_task(self._expire())
        return instance

    def get(self, group: str, name: str, caller: Caller) -> ConsumerInstance:
        """The instance (touched: its expiry starts again), or 404/40403. Another user's
        instance is not found either."""
        instance = self._instances.get((group, name))
        if instance is None or instance.caller.principal != caller.principal:
            raise RestError(404, CONSUMER_NOT_FOUND, "Consumer instance not found.")
        instance.touch()
        return instance

    async def delete(self, group: str, name: str, caller: Caller) -> None:
        instance = self.get(group, name, caller)
        del self._instances[(group, name)]
        async with instance.lock:
            await instance.close()

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(_JANITOR_S)
            now = self._clock.monotonic()
            for key, instance in list(self._instances.items()):
                if now - instance.last_used < self.timeout_s or instance.lock.locked():
                    continue
                del self._instances[key]
                _log.info("http: consumer instance %s/%s expired", *key)
                with contextlib.suppress(Exception):
                    await instance.close()

    async def close(self) -> None:
        """Destroys every instance (leaving their groups); the listener is stopping."""
        janitor, self._janitor = self._janitor, None
        if janitor is not None:
            janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor
        instances, self._instances = list(self._instances.values()), {}
        await asyncio.gather(*(i.close() for i in instances), return_exceptions=True)
