"""What a consumer shell does at a poll boundary, as data: the steps both shells execute.

The sync :class:`~logd.client.Consumer` and the :class:`~logd.client.aio.AsyncConsumer`
serve rebalance steps and commit at the same points in the same order; only *how* they
wait differs (a call into the background loop, or an ``await``). So the order lives in one
place -- generators of :class:`GroupSide <logd.client.consumer.group_side.GroupSide>` that
yield the operations below -- and each shell runs them with :func:`run` or
:func:`run_async` and its own ``execute(op)``. What ``execute`` returns is sent back into the
generator; what it raises is thrown in at the ``yield`` (so the generator's ``try``/
``finally`` decide what a failed commit or a raising callback means, for both shells).
A generator drives the steps rather than a list because later steps depend on how earlier
ones went (the sans-I/O idea of h11's ``next_event``, with Python's generator protocol).

Pure data and two small drivers; the operations are owned by the application's thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeAlias

from logd.client.types import PartitionKey, TopicPartition

__all__ = ["CommitInBackground", "CommitNow", "Invoke", "Op", "Steps", "WakeFetcher", "run",
           "run_async"]  # fmt: skip

Callback: TypeAlias = Callable[[Any, list[TopicPartition]], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class CommitNow:
    """Commit ``offsets`` and wait for the answer (raise its error into the steps)."""

    offsets: dict[PartitionKey, int]


@dataclasses.dataclass(frozen=True, slots=True)
class CommitInBackground:
    """Start committing ``offsets`` (``GroupSide.commit_in_background``); do not wait."""

    offsets: dict[PartitionKey, int]


@dataclasses.dataclass(frozen=True, slots=True)
class Invoke:
    """Call the user's ``callback(consumer, partitions)`` (awaiting it if it is a coroutine)."""

    callback: Callback
    partitions: list[TopicPartition]


@dataclasses.dataclass(frozen=True, slots=True)
class WakeFetcher:
    """The assignment changed: the fetcher looks at it again."""


Op: TypeAlias = CommitNow | CommitInBackground | Invoke | WakeFetcher
Steps: TypeAlias = Generator[Op, Any, None]


def run(steps: Steps, execute: Callable[[Op], Any]) -> None:
    """Run ``steps`` to the end, executing each operation with ``execute``."""
    try:
        op = next(steps)
        while True:
            try:
                result = execute(op)
            except BaseException as exc:
                op = steps.throw(exc)
            else:
                op = steps.send(result)
    except StopIteration:
        return


async def run_async(steps: Steps, execute: Callable[[Op], Awaitable[Any]]) -> None:
    """:func:`run` for a shell whose operations are awaited."""
    try:
        op = next(steps)
        while True:
            try:
                result = await execute(op)
            except BaseException as exc:
                op = steps.throw(exc)
            else:
                op = steps.send(result)
    except StopIteration:
        return
