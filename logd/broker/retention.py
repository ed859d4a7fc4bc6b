"""Periodic retention: every ``log.retention.check.interval.ms``, delete the segments that
``retention.ms`` / ``retention.bytes`` let go (Kafka's ``LogManager.cleanupLogs``).

Retention never reaches the high watermark (``Partition.enforce_retention`` bounds it), so a
segment holding records a consumer has not been allowed to see yet is never deleted.

Ownership: one asyncio task on the broker's loop. The deletions themselves run in a worker
thread (``Log`` is thread-safe; unlinking many segments should not stall the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from logd.broker.partition import Partition
from logd.errors import LogdError

__all__ = ["RetentionTask", "enforce_retention"]

_log = logging.getLogger(__name__)


def enforce_retention(partitions: Iterable[Partition]) -> int:
    """One pass over ``partitions``; returns how many segments were deleted. Blocking."""
    deleted = 0
    for partition in partitions:
        try:
            count = partition.enforce_retention()
        except LogdError as exc:  # an offline or deleted log: its owner reports it
            _log.debug("%s: retention skipped: %s", partition.tp, exc)
            continue
        if count:
            _log.info(
                "%s: retention deleted %d segment(s); log start offset now %d",
                partition.tp,
                count,
                partition.log_start_offset,
            )
        deleted += count
    return deleted


class RetentionTask:
    """Runs :func:`enforce_retention` over the hosted partitions every ``interval_ms``."""

    def __init__(self, partitions: Callable[[], Iterable[Partition]], interval_ms: int) -> None:
        self._partitions = partitions
        self._interval_s = interval_ms / 1000.0
        self._task: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Run a pass now (the disk went low on space: retention frees it). On the loop."""
        self._woken.set()

    def start(self) -> None:
        assert self._task is None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="logd-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._interval_s)
            self._woken.clear()
            partitions = list(self._partitions())
            try:
                await asyncio.to_thread(enforce_retention, partitions)
            except Exception:  # never let one bad pass end retention for good
                _log.exception("retention pass failed")
