"""Fetch: read stored batches for several partitions, waiting (bounded) for enough of them.

Kafka's ``DelayedFetch`` in a few lines of asyncio. A fetch reads every partition once; it
answers at once when it has ``min_bytes``, when a partition answered with an error (as
Kafka's ``tryComplete`` does), when ``max_wait_ms`` is zero or when the broker is draining.
Otherwise it registers one future with every partition it reads and sleeps until a high
watermark rises or the wait runs out, then reads again -- only the partitions whose high
watermark or log start moved (every one is looked up again, cheaply, so a leadership lost
meanwhile is still reported): a consumer of 10,000 idle partitions woken by one produce
reads one log, not 10,000 (issue 21). ``max_wait_ms`` is cut to the broker's
``fetch.max.wait.ms``, so no request waits unbounded.

Byte budget (as Kafka): the answer holds at most ``max_bytes`` and each partition at most its
own ``max_bytes``, except that the first partition with data returns at least one whole
batch even when it is larger, so a consumer can always make progress. A later partition
whose first batch does not fit what is left returns nothing this time (its offset is
unchanged; the next fetch gets it).

Ownership: runs on the broker's event loop; holds no state between calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from logd.broker.api import FetchPartitionRequest, FetchPartitionResult, LeaderHint
from logd.broker.partition import Partition
from logd.errors import InvalidFetchSizeError, LogdError, NotLeaderOrFollowerError

__all__ = ["FetchLimits", "fetch"]


class FetchLimits:
    """The broker's bounds on a fetch (from ``BrokerConfig``)."""

    __slots__ = ("max_bytes", "max_wait_ms")

    def __init__(self, max_wait_ms: int, max_bytes: int) -> None:
        self.max_wait_ms = max_wait_ms
        self.max_bytes = max_bytes


async def fetch(
    requests: Sequence[FetchPartitionRequest],
    lookup: Callable[[str, int], Partition],
    hint: Callable[[str, int], LeaderHint | None],
    *,
    max_wait_ms: int,
    min_bytes: int,
    max_bytes: int,
    limits: FetchLimits,
    draining: Callable[[], bool],
    any_replica: bool = False,
) -> list[FetchPartitionResult]:
    """Answer one fetch request; ``lookup`` gives the led partition (``any_replica``: the
    hosted one) or raises its error, ``hint`` names the leader of a partition this broker
    does not lead (or, ``any_replica``, hosts no replica of)."""
    if max_bytes < 0:
        raise InvalidFetchSizeError(f"fetch max_bytes {max_bytes} is negative")
    budget = min(max_bytes or limits.max_bytes, limits.max_bytes)
    wait_s = min(max(max_wait_ms, 0), limits.max_wait_ms) / 1000.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    results: list[FetchPartitionResult] = []
    while True:
        results, total, partitions, failed = _read_all(
            requests, lookup, hint, budget, any_replica, results
        )
        remaining = deadline - loop.time()
        if total >= min_bytes or failed or remaining <= 0 or draining() or not partitions:
            return results
        woken: asyncio.Future[None] = loop.create_future()
        for partition in partitions:
            partition.add_waiter(woken, any_replica=any_replica)
        # Not ``asyncio.wait_for``: it resumes this task through a second future, one loop
        # turn after the commit woke ``woken`` (issue 22: a woken fetch answers in one).
        timer = loop.call_later(remaining, _resolve, woken)
        try:
            await woken
        finally:
            timer.cancel()
            for partition in partitions:
                partition.remove_waiter(woken)


def _resolve(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _read_all(
    requests: Sequence[FetchPartitionRequest],
    lookup: Callable[[str, int], Partition],
    hint: Callable[[str, int], LeaderHint | None],
    budget: int,
    any_replica: bool,
    before: Sequence[FetchPartitionResult] = (),
) -> tuple[list[FetchPartitionResult], int, list[Partition], bool]:
    """Read every requested partition -- or, given the ``before`` of an earlier read that
    found too little, only those whose high watermark or log start moved since."""
    results: list[FetchPartitionResult] = []
    partitions: list[Partition] = []
    total = 0
    failed = False
    for i, request in enumerate(requests):
        try:
            partition = lookup(request.topic, request.partition)
            partition.check_leader_epoch(request.current_leader_epoch)
            old = before[i] if before else None
            if old is not None and _unchanged(partition, old):
                records = old.records
            else:
                records = _read_one(
                    partition, request, budget - total, first=total == 0, any_replica=any_replica
                )
        except LogdError as exc:
            failed = True
            results.append(_failure(request, exc, hint))
            continue
        partitions.append(partition)
        total += len(records)
        results.append(
            FetchPartitionResult(
                request.topic,
                request.partition,
                high_watermark=partition.high_watermark,
                log_start_offset=partition.log_start_offset,
                records=records,
            )
        )
    return results, total, partitions, failed


def _unchanged(partition: Partition, old: FetchPartitionResult) -> bool:
    """Nothing to read again: it had nothing, and neither end of its log moved."""
    return (
        old.error is None
        and not old.records
        and partition.high_watermark == old.high_watermark
        and partition.log_start_offset == old.log_start_offset
    )


def _read_one(
    partition: Partition,
    request: FetchPartitionRequest,
    left: int,
    *,
    first: bool,
    any_replica: bool,
) -> bytes:
    if request.max_bytes < 0:
        raise InvalidFetchSizeError(f"partition max_bytes {request.max_bytes} is negative")
    limit = min(request.max_bytes or left, left)
    if limit <= 0 and not first:
        # Still check the offset, so an out-of-range one is reported rather than ignored.
        partition.check_offset(request.offset, any_replica=any_replica)
        return b""
    records = partition.read(request.offset, max(limit, 0), any_replica=any_replica)
    if len(records) > limit and not first:
        return b""  # only the first partition with data may go over (see the module doc)
    return records


def _failure(
    request: FetchPartitionRequest, exc: LogdError, hint: Callable[[str, int], LeaderHint | None]
) -> FetchPartitionResult:
    leader = (
        hint(request.topic, request.partition)
        if isinstance(exc, NotLeaderOrFollowerError)
        else None
    )
    return FetchPartitionResult(request.topic, request.partition, error=exc, leader_hint=leader)
