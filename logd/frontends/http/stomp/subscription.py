"""One STOMP subscription: reads its topic's partitions through the seam from where its
start says (``start.py``), writes a MESSAGE per record into the connection's outbox, and
commits its group's offsets (``x-group``) as its client acknowledges (``acks.py``).

Reading pauses while ``max_unacked`` messages wait for an acknowledgement, and while the
outbox is full (a slow client: ``outbox.py``). Commits coalesce: one runs at a time, the
next covers every acknowledgement that came meanwhile (with ``ack: auto``, at most one a
second). :meth:`flush` waits for a commit covering what was acknowledged so far -- an ACK's
RECEIPT is sent after it. Without ``x-group`` nothing is committed.

The group is a commit namespace, not a membership: every subscription of a group reads
every partition it names, as a Kafka consumer using ``assign()`` does (standalone commits,
no generation). Partitions added to the topic later are not picked up.

A retriable error (a leader moving) is retried with a growing pause; anything else (the
topic deleted, an authorization refused) ends the connection with an ERROR frame through
``on_fatal``.

Ownership: the connection's session, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Final

from logd.broker.api import FetchPartitionRequest, ListOffsetsQuery, OffsetSpec
from logd.broker.seam import BrokerSeam, Caller
from logd.errors import ErrorCode, LogdError, OffsetOutOfRangeError, error_for_code
from logd.frontends.http.consumers.membership import coordinated_here
from logd.frontends.http.fetched import readable
from logd.frontends.http.retrying import retrying
from logd.frontends.http.stomp.acks import AckTracker
from logd.frontends.http.stomp.frames import encode
from logd.frontends.http.stomp.outbox import Outbox, SlowConsumer
from logd.frontends.http.stomp.start import StartAt
from logd.groups.messages import (
    NO_GENERATION,
    OffsetCommitPartition,
    OffsetCommitRequest,
    TopicPartition,
)
from logd.records.record import Record

__all__ = ["Subscription"]

_FETCH_WAIT_MS: Final = 500
_FETCH_BYTES: Final = 1024 * 1024
_RETRY_FIRST_S: Final = 0.05
_RETRY_MAX_S: Final = 2.0
_AUTO_COMMIT_S: Final = 1.0
_GROUP_RETRY_S: Final = 30.0
_log = logging.getLogger(__name__)


class Subscription:
    """See the module docstring."""

    def __init__(
        self,
        *,
        sub_id: str,
        prefix: str,
        topic: str,
        partitions: Sequence[int],
        tracker: AckTracker,
        group: str | None,
        start: StartAt,
        max_unacked: int,
        seam: BrokerSeam,
        caller: Caller,
        outbox: Outbox,
        on_fatal: Callable[[str], None],
    ) -> None:
        self.sub_id = sub_id
        self.prefix = prefix  # ack ids are "<prefix><n>": the session finds us by it
        self.topic = topic
        self.partitions = tuple(partitions)
        self.tracker = tracker
        self.group = group
        self._start = start
        self._max_unacked = max_unacked
        self._seam = seam
        self._caller = caller
        self._outbox = outbox
        self._on_fatal = on_fatal
        self._positions: dict[int, int] = {}
        self._next_ack = 0
        self._window = asyncio.Event()
        self._window.set()
        self._changed = asyncio.Event()
        self._committed_changes = 0
        self._commit_done = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._guarded(self._read())))
        if self.group is not None:
            self._tasks.append(loop.create_task(self._guarded(self._commits())))

    async def close(self) -> None:
        """Stops reading; a last commit of what was acknowledged (best effort)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.group is not None:
            with contextlib.suppress(LogdError):
                await self._commit()

    # -- acknowledgements ---------------------------------------------------------------------

    def ack(self, ack_id: str, *, positive: bool) -> bool:
        done = self.tracker.ack(ack_id) if positive else self.tracker.nack(ack_id)
        if self.tracker.outstanding < self._max_unacked:
            self._window.set()
        self._changed.set()
        return done

    async def flush(self) -> None:
        """Returns once what was acknowledged so far is committed (at once: no group)."""
        if self.group is None:
            return
        target = self.tracker.changes
        self._changed.set()
        async with self._commit_done:
            await self._commit_done.wait_for(lambda: self._committed_changes >= target)

    # -- reading ------------------------------------------------------------------------------

    async def _guarded(self, work: Coroutine[None, None, None]) -> None:
        try:
            await work
        except SlowConsumer as exc:
            _log.info("stomp: %s (%s, subscription %s)", exc, self._caller.address, self.sub_id)
            self._on_fatal(str(exc))
        except LogdError as exc:
            self._on_fatal(f"subscription {self.sub_id}: {exc}")

    async def _read(self) -> None:
        await self._initial_positions()
        wait = _RETRY_FIRST_S
        while True:
            await self._window.wait()
            requests = [FetchPartitionRequest(self.topic, p, self._positions[p], _FETCH_BYTES)
                        for p in self.partitions]  # fmt: skip
            results = await self._seam.fetch(
                requests, max_wait_ms=_FETCH_WAIT_MS, min_bytes=1, max_bytes=_FETCH_BYTES,
                caller=self._caller,
            )  # fmt: skip
            if self._seam.draining:
                return  # a draining core answers at once: the connection is ending anyway
            retry = False
            for result in results:
                if isinstance(result.error, OffsetOutOfRangeError):
                    await self._clamp(result.partition)
                elif result.error is not None:
                    if not result.error.retriable:
                        raise result.error
                    retry = True
                else:
                    await self._deliver(result.partition, result.records)
            if retry:
                await asyncio.sleep(wait)
                wait = min(wait * 2, _RETRY_MAX_S)
            else:
                wait = _RETRY_FIRST_S

    async def _deliver(self, partition: int, data: bytes) -> None:
        records, end = readable(data, self._positions[partition])
        for record in records:
            if self.tracker.outstanding >= self._max_unacked:
                self._window.clear()
                self._positions[partition] = record.offset
                return
            ack_id = None
            if self.tracker.mode != "auto":
                ack_id = f"{self.prefix}{self._next_ack}"
                self._next_ack += 1
            await self._outbox.put(self._message(partition, record, ack_id))
            self.tracker.delivered(ack_id, partition, record.offset)
            self._positions[partition] = record.offset + 1
        self._positions[partition] = max(self._positions[partition], end)
        self.tracker.read_to(partition, self._positions[partition])
        self._changed.set()

    def _message(self, partition: int, record: Record, ack_id: str | None) -> bytes:
        headers = [
            ("subscription", self.sub_id),
            ("message-id", f"{self.topic}-{partition}-{record.offset}"),
            ("destination", f"/topic/{self.topic}"),
        ]
        if ack_id is not None:
            headers.append(("ack", ack_id))
        headers += [
            ("x-partition", str(partition)),
            ("x-offset", str(record.offset)),
            ("x-timestamp", str(record.timestamp)),
        ]
        if record.key is not None:
            headers.append(("key", record.key.decode("utf-8", "replace")))
        for name, value in record.headers:
            headers.append((name, "" if value is None else value.decode("utf-8", "replace")))
        return encode("MESSAGE", headers, record.value or b"")

    # -- positions ----------------------------------------------------------------------------

    async def _initial_positions(self) -> None:
        committed = await self._committed() if self.group is not None else {}
        rest = [p for p in self.partitions if committed.get(p, -1) < 0]
        self._positions = {p: o for p, o in committed.items() if o >= 0}
        start = self._start
        if start.where == "offset":
            for p in rest:
                self._positions[p] = start.offset
        elif start.where == "timestamp":
            found = await self._list(rest, OffsetSpec.TIMESTAMP, start.timestamp_ms)
            latest = await self._list([p for p in rest if found[p] < 0], OffsetSpec.LATEST)
            self._positions.update({**found, **latest})
        elif start.where == "last":
            first = await self._list(rest, OffsetSpec.EARLIEST)
            end = await self._list(rest, OffsetSpec.LATEST)
            self._positions.update({p: max(first[p], end[p] - 1) for p in rest})
        else:
            spec = OffsetSpec.EARLIEST if start.where == "first" else OffsetSpec.LATEST
            self._positions.update(await self._list(rest, spec))
        for p, position in self._positions.items():
            self.tracker.start(p, position)

    async def _clamp(self, partition: int) -> None:
        """An offset outside the log: its nearer end."""
        (first,) = (await self._list([partition], OffsetSpec.EARLIEST)).values()
        (end,) = (await self._list([partition], OffsetSpec.LATEST)).values()
        self._positions[partition] = first if self._positions[partition] < first else end

    async def _list(self, partitions: Sequence[int], spec: OffsetSpec, ts: int = -1
                    ) -> dict[int, int]:  # fmt: skip
        if not partitions:
            return {}
        queries = [ListOffsetsQuery(self.topic, p, spec, ts) for p in partitions]
        out = {}
        for result in await self._seam.list_offsets(queries, caller=self._caller):
            if result.error is not None:
                raise result.error
            out[result.partition] = result.offset
        return out

    # -- commits ------------------------------------------------------------------------------

    async def _committed(self) -> dict[int, int]:
        assert self.group is not None
        group = self.group
        wanted = [TopicPartition(self.topic, p) for p in self.partitions]

        async def fetch() -> dict[int, int]:
            await coordinated_here(self._seam, group, self._caller, "subscribe on that"
                                   " broker's HTTP listener")  # fmt: skip
            answer = await self._seam.fetch_offsets(group, wanted, caller=self._caller)
            if answer.error != ErrorCode.NONE:
                raise error_for_code(answer.error, answer.error_message)
            return {p.partition: p.offset for p in answer.partitions
                    if p.error == ErrorCode.NONE}  # fmt: skip

        return await retrying(fetch, _GROUP_RETRY_S)

    async def _commits(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self.tracker.changes > self._committed_changes:
                await self._commit()
                if self.tracker.mode == "auto":
                    await asyncio.sleep(_AUTO_COMMIT_S)

    async def _commit(self) -> None:
        assert self.group is not None
        covered = self.tracker.changes
        points = self.tracker.commit_points()
        if covered > self._committed_changes and points:
            request = OffsetCommitRequest(
                self.group,
                tuple(OffsetCommitPartition(self.topic, p, o) for p, o in points.items()),
                generation_id=NO_GENERATION,
                member_id="",
            )

            async def commit() -> None:
                answer = await self._seam.commit_offsets(request, caller=self._caller)
                for part in answer.partitions:
                    if part.error != ErrorCode.NONE:
                        raise error_for_code(part.error, f"commit of {part.topic}-{part.partition}")

            await retrying(commit, _GROUP_RETRY_S)
        async with self._commit_done:
            self._committed_changes = max(self._committed_changes, covered)
            self._commit_done.notify_all()
