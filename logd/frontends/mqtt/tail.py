"""Follow an internal topic from its first offset, forever: the MQTT front end keeps its
sessions and retained messages as keyed records in compacted topics, and every broker
holds the latest value of every key by reading them back (Kafka Streams' global tables,
Zilla's and NATS's MQTT state work the same way).

``apply(record)`` is called for every data record, in each partition's order; a record
that does not parse is the caller's to skip. :meth:`Tail.wait_caught_up` waits until
everything committed when it was called has been applied (read-your-writes across
brokers: a broker taking a session over first waits for what the previous one wrote).

Ownership: one task per topic and broker, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from logd.broker.api import FetchPartitionRequest
from logd.errors import LeaderNotAvailableError, LogdError
from logd.frontends.mqtt.access import LogAccess
from logd.groups.messages import TopicPartition
from logd.records.decoder import decode_batch
from logd.records.header import parse_header
from logd.records.reader import split_batches
from logd.records.record import Record

__all__ = ["Tail"]

_log = logging.getLogger(__name__)
_MAX_WAIT_MS = 500
_FETCH_BYTES = 4 * 1024 * 1024
_RETRY_S = 0.2
_CATCH_UP_S = 30.0


class Tail:
    """Reads every partition of ``topic`` from 0 and hands each record to ``apply``."""

    def __init__(self, access: LogAccess, topic: str, apply: Callable[[int, Record], None]) -> None:
        self._access = access
        self.topic = topic
        self._apply = apply
        self._positions: dict[int, int] = {}
        self._waiters: list[tuple[dict[int, int], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self, partitions: int) -> None:
        self._positions = dict.fromkeys(range(partitions), 0)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"tail {self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()

    async def wait_caught_up(
        self, partitions: list[int] | None = None, timeout_s: float = _CATCH_UP_S
    ) -> None:
        """Until what is committed now (in ``partitions``, default all) has been applied.
        A partition without a leader (an election after a broker died) is waited for, not
        skipped: a session read before its last write would be lost. LeaderNotAvailable
        after ``timeout_s``."""
        wanted = list(self._positions) if partitions is None else partitions
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        targets: dict[int, int] = {}
        while True:
            ends = await self._access.end_offsets(
                [TopicPartition(self.topic, p) for p in wanted if p not in targets]
            )
            targets.update((tp.partition, end) for tp, end in ends.items())
            if len(targets) == len(wanted):
                break
            if loop.time() > deadline:
                raise LeaderNotAvailableError(f"{self.topic}: no leader to read it from yet")
            await asyncio.sleep(_RETRY_S)
        if all(self._positions.get(p, 0) >= end for p, end in targets.items()):
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append((targets, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), max(0.1, deadline - loop.time()))
        except TimeoutError:
            raise LeaderNotAvailableError(f"{self.topic}: not read up to date in time") from None

    async def _run(self) -> None:
        while not self._access.draining:
            requests = [
                FetchPartitionRequest(self.topic, p, offset, _FETCH_BYTES)
                for p, offset in self._positions.items()
            ]
            try:
                results = await self._access.fetch(
                    requests, max_wait_ms=_MAX_WAIT_MS, max_bytes=_FETCH_BYTES
                )
            except LogdError as exc:
                _log.debug("mqtt: reading %s: %s", self.topic, exc)
                await asyncio.sleep(_RETRY_S)
                continue
            failed = False
            for result in results:
                if result.error is not None:
                    failed = True
                    continue
                self._take(result.partition, result.records)
            self._wake()
            # A fetch that finds data answers without suspending: yield, or a long backlog
            # would hold the loop. After a failure (a leader moving) ask again shortly.
            await asyncio.sleep(_RETRY_S if failed else 0)

    def _take(self, partition: int, data: bytes) -> None:
        position = self._positions[partition]
        for view in split_batches(data).batches:
            header = parse_header(view)
            if header.last_offset < position:
                continue
            if not header.is_control:
                try:
                    records = list(decode_batch(view))
                except LogdError as exc:
                    _log.warning("mqtt: %s-%d: skipping a damaged batch: %s",
                                 self.topic, partition, exc)  # fmt: skip
                    records = []
                for record in records:
                    if record.offset >= position:
                        self._apply(partition, record)
            position = header.last_offset + 1
        self._positions[partition] = position

    def _wake(self) -> None:
        still = []
        for targets, waiter in self._waiters:
            if waiter.done():
                continue
            if all(self._positions.get(p, 0) >= end for p, end in targets.items()):
                waiter.set_result(None)
            else:
                still.append((targets, waiter))
        self._waiters = still
