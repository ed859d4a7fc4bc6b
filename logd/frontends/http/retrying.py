"""Calls to the core's group side again while they fail retriably (the offsets topic being
created, a coordinator loading or moving), with a growing pause, for a bounded time: what a
Kafka client does inside its own calls, so an HTTP or STOMP client does not have to.

Ownership: the caller's task, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from logd.errors import LogdError

__all__ = ["retrying"]

_FIRST_S: Final = 0.05
_MAX_S: Final = 2.0
_T = TypeVar("_T")


async def retrying(call: Callable[[], Awaitable[_T]], for_s: float) -> _T:
    """``call()``'s answer; its error once it is not retriable or ``for_s`` has passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + for_s
    wait = _FIRST_S
    while True:
        try:
            return await call()
        except LogdError as exc:
            if not exc.retriable or loop.time() + wait > deadline:
                raise
        await asyncio.sleep(wait)
        wait = min(wait * 2, _MAX_S)
