"""Kafka's DeleteRecords in the core: move a partition's log start forward, for every
replica, and answer the new low watermark.

The leader checks the request (the partition led here, ``cleanup.policy`` including
``delete`` -- else POLICY_VIOLATION, as Kafka --, the offset within [0, high watermark] --
else OFFSET_OUT_OF_RANGE; -1 means the high watermark) and proposes a LOG_START control
record through the partition's Raft log (:meth:`Partition.propose_log_start`). Once it is
committed each replica, the leader first, deletes the records before that offset
(``logd.cluster.log_starts``): the log start is replicated state, not the leader's alone,
so a new leader starts where the old one did. Fetch (OFFSET_OUT_OF_RANGE below it),
ListOffsets (earliest) and retention read the log start, so they honour it at once.
The answer waits for the commit up to the request's timeout (REQUEST_TIMED_OUT after; the
deletion may still happen, as Kafka's purgatory may answer before its followers catch up).

Ownership: runs on the broker's event loop (the replica manager's partitions are loop-owned).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from logd.broker.api import DELETE_TO_HIGH_WATERMARK, DeleteRecordsQuery, DeleteRecordsResult
from logd.broker.replicas import ReplicaManager
from logd.errors import (
    LogdError,
    OffsetOutOfRangeError,
    PolicyViolationError,
    RequestTimedOutError,
)
from logd.metadata.store import check_not_reserved

__all__ = ["delete_records"]

#: The longest a DeleteRecords waits for its commit, whatever the client asks.
MAX_TIMEOUT_MS = 60_000


async def delete_records(
    replicas: ReplicaManager, queries: Sequence[DeleteRecordsQuery], timeout_ms: int
) -> list[DeleteRecordsResult]:
    """Each query answered on its own (errors per partition), all awaited together."""
    timeout_s = min(max(timeout_ms, 0), MAX_TIMEOUT_MS) / 1000.0
    return list(await asyncio.gather(*(_delete(replicas, q, timeout_s) for q in queries)))


async def _delete(
    replicas: ReplicaManager, q: DeleteRecordsQuery, timeout_s: float
) -> DeleteRecordsResult:
    try:
        check_not_reserved(q.topic, "delete records of")
        target = replicas.leader(q.topic, q.partition)
        if not target.config.log.delete:
            raise PolicyViolationError(
                f"records of {q.topic}-{q.partition} cannot be deleted: its cleanup.policy "
                f"is {target.config.log.cleanup_policy!r} (needs delete)"
            )
        hw = target.high_watermark
        offset = hw if q.offset == DELETE_TO_HIGH_WATERMARK else q.offset
        if not 0 <= offset <= hw:
            raise OffsetOutOfRangeError(
                f"cannot delete records of {q.topic}-{q.partition} before {q.offset}: "
                f"outside [0, {hw}] (the high watermark)"
            )
        if offset > target.log_start_offset:
            committed = target.propose_log_start(offset)
            if committed is not None:
                committed.add_done_callback(_retrieve)  # a failure after a timeout is no news
                try:
                    await asyncio.wait_for(asyncio.shield(committed), timeout_s)
                except TimeoutError:
                    raise RequestTimedOutError(
                        f"the deletion of {q.topic}-{q.partition}'s records before {offset} "
                        f"was not committed within {timeout_s * 1000:.0f} ms"
                    ) from None
        return DeleteRecordsResult(q.topic, q.partition, low_watermark=target.log_start_offset)
    except LogdError as exc:
        return DeleteRecordsResult(q.topic, q.partition, error=exc)


def _retrieve(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
