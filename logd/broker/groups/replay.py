"""Read a ``__consumer_offsets`` partition back into a loading coordinator.

Kafka's ``GroupMetadataManager.doLoadGroupsAndOffsets``: from the log start to a target
offset, every record's key and value go to ``GroupCoordinator.replay`` in log order; control
batches (Raft's own entries) are skipped; a record the coordinator cannot read is logged and
skipped (it cannot be a logd write; a user may have produced garbage into the topic).

The target is the high watermark once it has reached the log end offset seen when
leadership began. Raft's new leader holds every committed entry but may not yet know its
commit index (the Raft paper, section 5.4.2: it learns it by committing an entry of its own
term); waiting until the high watermark covers what the log held at the start means
everything replayed is committed, and nothing committed is left out. With one node that is
one fsync away (or at once).

Ownership: runs on the broker's event loop; segment reads go to a worker thread so a long
partition does not stall the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from logd.broker.partition import Partition
from logd.errors import LogdError, NotLeaderOrFollowerError
from logd.records.decoder import decode_batch
from logd.records.header import parse_header
from logd.records.reader import split_batches

__all__ = ["replay_partition"]

_log = logging.getLogger(__name__)

#: Bytes read per step; a batch larger than this still comes whole (Log.read).
READ_CHUNK_BYTES = 1 << 20
#: Decompression bound for one batch of the partition.
_MAX_UNCOMPRESSED = 64 << 20

Replay = Callable[[bytes | memoryview, bytes | memoryview | None], None]


async def wait_for_committed_end(partition: Partition) -> int:
    """The high watermark, once it covers the log end offset as of now."""
    target = partition.log_end_offset
    loop = asyncio.get_running_loop()
    while partition.high_watermark < target:
        if not partition.is_leader:
            raise NotLeaderOrFollowerError(f"{partition.tp}: leadership lost while loading")
        woken: asyncio.Future[None] = loop.create_future()
        partition.add_waiter(woken)
        try:
            await woken
        finally:
            partition.remove_waiter(woken)
    return partition.high_watermark


async def replay_partition(partition: Partition, replay: Replay) -> tuple[int, int]:
    """Replay ``partition`` up to its committed end; returns (records, end offset)."""
    end = await wait_for_committed_end(partition)
    offset = partition.log_start_offset
    count = 0
    while offset < end:
        if not partition.is_leader:
            raise NotLeaderOrFollowerError(f"{partition.tp}: leadership lost while loading")
        data = await asyncio.to_thread(partition.log.read, offset, READ_CHUNK_BYTES, end)
        batches = split_batches(data).batches
        if not batches:
            # Nothing whole below ``end`` from here: the rest was deleted or truncated meanwhile.
            break
        for view in batches:
            header = parse_header(view)
            offset = header.next_offset
            if header.is_control:
                continue
            count += _replay_batch(partition, view, replay)
    return count, end


def _replay_batch(partition: Partition, view: memoryview, replay: Replay) -> int:
    count = 0
    try:
        records = list(decode_batch(view, max_uncompressed_bytes=_MAX_UNCOMPRESSED))
    except LogdError as exc:
        _log.error("%s: skipping an unreadable batch: %s", partition.tp, exc)
        return 0
    for record in records:
        if record.key is None:
            _log.warning("%s: skipping a record without a key at %d", partition.tp, record.offset)
            continue
        try:
            replay(record.key, record.value)
        except LogdError as exc:
            _log.warning("%s: skipping record %d: %s", partition.tp, record.offset, exc)
        else:
            count += 1
    return count
