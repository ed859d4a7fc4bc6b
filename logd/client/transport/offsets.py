"""ListOffsets: earliest, latest, or by timestamp, for many partitions at once.

Partitions are grouped by leader and asked in one call per broker; a partition whose
leader moved (NOT_LEADER_OR_FOLLOWER, or no leader known) is retried after a metadata
refresh, with backoff, until ``request_timeout_ms`` has passed.

Owned by the client's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.rpc import error_from_proto
from logd.clock import Clock
from logd.errors import LeaderNotAvailableError, LogdError, UnknownTopicOrPartitionError
from logd.v1 import broker_pb2

__all__ = ["SPEC_EARLIEST", "SPEC_LATEST", "SPEC_TIMESTAMP", "list_offsets"]

SPEC_TIMESTAMP: Final = broker_pb2.OFFSET_SPEC_TIMESTAMP
SPEC_EARLIEST: Final = broker_pb2.OFFSET_SPEC_EARLIEST
SPEC_LATEST: Final = broker_pb2.OFFSET_SPEC_LATEST

Key = tuple[str, int]


async def list_offsets(
    pool: ConnectionPool,
    metadata: Metadata,
    clock: Clock,
    wanted: Sequence[tuple[str, int, int, int]],
    *,
    timeout_ms: int,
    backoff_ms: int,
) -> dict[Key, tuple[int, int]]:
    """``(topic, partition, spec, timestamp_ms)`` -> ``{(topic, partition): (offset, ts)}``.

    Offset -1 means "no record at or after that timestamp". Raises the first non-retriable
    per-partition error, or the last retriable one when the time is up.
    """
    deadline = clock.monotonic() + timeout_ms / 1000.0
    todo = {(t, p): (spec, ts) for t, p, spec, ts in wanted}
    out: dict[Key, tuple[int, int]] = {}
    for topic in {t for t, _ in todo}:
        await metadata.topic(topic)
    attempt = 0
    while True:
        retry: dict[Key, tuple[int, int]] = {}
        last: LogdError | None = None
        by_leader: dict[str, list[Key]] = {}
        for key, asked in todo.items():
            tm = metadata.cache.topics.get(key[0])
            if tm is not None and key[1] >= len(tm.partitions):
                raise UnknownTopicOrPartitionError(
                    f"topic {key[0]!r} has no partition {key[1]} "
                    f"(it has {len(tm.partitions)}: 0..{len(tm.partitions) - 1})"
                )
            address = metadata.cache.leader_address(*key)
            if address is None:
                retry[key] = asked
                last = LeaderNotAvailableError(f"no leader known for {key[0]}/{key[1]}")
            else:
                by_leader.setdefault(address, []).append(key)
        for address, keys in by_leader.items():
            results, failed = await _ask(pool, address, keys, todo)
            out.update(results)
            for key, err in failed.items():
                if not err.retriable:
                    raise err
                metadata.cache.forget_leader(*key)
                retry[key] = todo[key]
                last = err
        if not retry:
            return out
        if clock.monotonic() >= deadline:
            assert last is not None
            raise last
        attempt += 1
        await asyncio.sleep(min(backoff_ms * attempt, 1000) / 1000.0)
        try:
            await metadata.refresh({t for t, _ in retry})
        except LogdError as exc:
            last = exc
        todo = retry


async def _ask(
    pool: ConnectionPool, address: str, keys: list[Key], todo: dict[Key, tuple[int, int]]
) -> tuple[dict[Key, tuple[int, int]], dict[Key, LogdError]]:
    request = broker_pb2.ListOffsetsRequest(
        partitions=[
            broker_pb2.ListOffsetsPartition(
                topic=t,
                partition=p,
                spec=todo[(t, p)][0],  # type: ignore[arg-type]  # an OffsetSpec value
                timestamp_ms=todo[(t, p)][1],
            )
            for t, p in keys
        ]
    )
    conn = pool.get(address)
    failed: dict[Key, LogdError] = {}
    try:
        resp: Any = await conn.unary(conn.broker.ListOffsets, request)
    except LogdError as exc:
        if not exc.retriable:
            raise
        return {}, dict.fromkeys(keys, exc)
    results: dict[Key, tuple[int, int]] = {}
    for r in resp.partitions:
        key = (r.topic, r.partition)
        err = error_from_proto(r.error)
        if err is None:
            results[key] = (r.offset, r.timestamp_ms)
        else:
            failed[key] = err
    for key in keys:
        if key not in results and key not in failed:
            failed[key] = LeaderNotAvailableError(f"{address} did not answer for {key[0]}/{key[1]}")
    return results, failed
