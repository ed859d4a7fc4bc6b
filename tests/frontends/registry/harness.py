"""A registry for tests: a real broker core (in process, real storage under ``tmp_path``)
with the registry front end, on an event loop thread of its own, so that synchronous real
clients (confluent-kafka's, ours) can call it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.frontends.registry import RegistryFrontEnd
from logd.metadata.types import HostPort
from tests.broker.harness import open_core

__all__ = ["registry"]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A broker core with the registry front end on its own event loop thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def up() -> tuple[object, RegistryFrontEnd, str]:
        opened = await open_core(tmp_path)
        front = RegistryFrontEnd(HostPort("127.0.0.1", 0), opened.seam())
        bound = await front.start()
        return opened, front, f"http://{bound}"

    async def down(opened: object, front: RegistryFrontEnd) -> None:
        front.begin_drain()
        await front.stop(1.0)
        await opened.close()  # type: ignore[attr-defined]

    opened, front, url = asyncio.run_coroutine_threadsafe(up(), loop).result(30)
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(down(opened, front), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
