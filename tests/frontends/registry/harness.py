"""A registry for tests: a real broker core (in process, real storage under ``tmp_path``)
with the registry front end, on an event loop thread of its own, so that synchronous real
clients (confluent-kafka's, ours) can call it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.broker.seam import BrokerSeam
from logd.frontends.registry import RegistryFrontEnd
from logd.metadata.types import HostPort
from tests.broker.harness import open_core

__all__ = ["registry", "registry_seam"]


@pytest.fixture
def registry(registry_seam: tuple[str, BrokerSeam]) -> str:
    """A broker core with the registry front end on its own event loop thread: its URL."""
    return registry_seam[0]


@pytest.fixture
def registry_seam(tmp_path: Path) -> Iterator[tuple[str, BrokerSeam]]:
    """The registry's URL and the seam of the core it serves."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def up() -> tuple[object, RegistryFrontEnd, str, BrokerSeam]:
        opened = await open_core(tmp_path)
        seam = opened.seam()
        front = RegistryFrontEnd(HostPort("127.0.0.1", 0), seam)
        bound = await front.start()
        return opened, front, f"http://{bound}", seam

    async def down(opened: object, front: RegistryFrontEnd) -> None:
        front.begin_drain()
        await front.stop(1.0)
        await opened.close()  # type: ignore[attr-defined]

    opened, front, url, seam = asyncio.run_coroutine_threadsafe(up(), loop).result(30)
    try:
        yield url, seam
    finally:
        asyncio.run_coroutine_threadsafe(down(opened, front), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
