"""A cancelled consumer task ends, even when records arrive in the same loop turn.

On Python 3.11 ``asyncio.wait_for`` returns normally when the awaited event is set in the
loop turn in which its caller is cancelled, and the cancel is lost: a consumer loop that an
application (or a test) cancelled while records arrived kept running forever. The client
waits with ``asyncio.timeout`` instead; these tests fail with ``wait_for``.
"""

from __future__ import annotations

import asyncio

from logd.client.aio.consumer import AsyncConsumer


async def _cancel_as_data_arrives(consumer: AsyncConsumer) -> str:
    async def loop() -> None:
        while True:  # an application's poll loop: a wait that found data goes round again
            await consumer._wait(5.0)

    task = asyncio.get_running_loop().create_task(loop())
    await asyncio.sleep(0)  # the task now waits for data
    consumer._arrived.set()  # data arrives ...
    task.cancel()  # ... in the loop turn the application cancels its poll task
    done, _ = await asyncio.wait([task], timeout=2.0)
    if not done:
        task.cancel()
        return "still running"
    return "cancelled" if task.cancelled() else "ended"


def test_a_poll_task_cancelled_as_records_arrive_ends() -> None:
    async def main() -> list[str]:
        consumer = AsyncConsumer({"bootstrap.servers": "127.0.0.1:1"})
        return [await _cancel_as_data_arrives(consumer) for _ in range(3)]

    assert asyncio.run(main()) == ["cancelled"] * 3
