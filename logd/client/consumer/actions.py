"""What a consumer shell does at a poll boundary, as data: the actions both shells execute.

The sync :class:`~logd.client.Consumer` and the :class:`~logd.client.aio.AsyncConsumer`
serve rebalance steps and commit at the same points in the same order; only *how* they
wait differs (a call into the background loop, or an ``await``). So the order lives in one
place -- generators of :class:`GroupSide <logd.client.consumer.group_side.GroupSide>` that
yield the actions below -- and each shell runs them with :func:`run` or :func:`run_async`
and its own ``execute(action)``. What ``execute`` returns is sent back into the generator;
what it raises is thrown in at the ``yield`` (so the generator's ``try``/``finally`` decide
what a failed commit or a raising callback means, for both shells). A generator rather
than a list, because later actions depend on how earlier ones went (the sans-I/O idea of
h11's ``next_event``, with Python's generator protocol).

Pure data and two small drivers; the actions are owned by the application's thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeAlias

from logd.client.types import PartitionKey, TopicPartition

__all__ = ["Action", "Actions", "Callback", "CommitInBackground", "CommitNow", "Invoke",
           "WakeFetcher", "run", "run_async"]  # fmt: skip

Callback: TypeAlias = Callable[[Any, list[TopicPartition]], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class CommitNow:
    """Commit ``offsets`` and wait for the answer (its error is thrown into the actions)."""

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


Action: TypeAlias = CommitNow | CommitInBackground | Invoke | WakeFetcher
Actions: TypeAlias = Generator[Action, Any, None]


def run(actions: Actions, execute: Callable[[Action], Any]) -> None:
    """Run ``actions`` to the end, executing each with ``execute``."""
    try:
        action = next(actions)
        while True:
            try:
                result = execute(action)
            except BaseException as exc:
                action = actions.throw(exc)
            else:
                action = actions.send(result)
    except StopIteration:
        return


async def run_async(actions: Actions, execute: Callable[[Action], Awaitable[Any]]) -> None:
    """:func:`run` for a shell whose operations are awaited."""
    try:
        action = next(actions)
        while True:
            try:
                result = await execute(action)
            except BaseException as exc:
                action = actions.throw(exc)
            else:
                action = actions.send(result)
    except StopIteration:
        return
