"""One REST Proxy consumer instance: what it reads (a subscription through its group, or
partitions assigned by hand), where it is (a position per partition: the next offset to
read), and the calls of ``/consumers/{g}/instances/{i}/…`` on them -- on the seam, as a
Kafka consumer runs on its broker.

Positions, as Kafka's consumer keeps them: a partition newly held starts at the group's
committed offset, else where ``auto.offset.reset`` says (``latest`` by default, ``earliest``,
or ``none``: 409/40903); a seek (``positions``, ``positions/beginning``, ``/end``) moves it;
a read moves it past what it returned (control batches and records below the position are
skipped, as a consumer skips them). Commits store "the next offset to read": ``POST
…/offsets`` with offsets commits each one's offset + 1 (Confluent's rule: the body names
the last record consumed), an empty body commits the positions; with ``auto.commit.enable``
(the default, as Kafka's) the positions are committed at most every 5 s after a read, and
before partitions are given up. Standalone commits (manual assignment) carry no generation,
as Kafka's ``assign()`` consumers do.

A request runs alone on its instance (:attr:`ConsumerInstance.lock`), as Confluent
serializes calls on one consumer.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Final

from logd.broker.api import FetchPartitionRequest, ListOffsetsQuery, OffsetSpec
from logd.broker.seam import BrokerSeam, Caller
from logd.clock import Clock
from logd.errors import ErrorCode, LogdError, OffsetOutOfRangeError, error_for_code
from logd.frontends.http.consumers.membership import GroupMember, Subscribed, coordinated_here
from logd.frontends.http.errors import (
    CONSUMER_ALREADY_SUBSCRIBED,
    ILLEGAL_STATE,
    RestError,
    from_logd,
)
from logd.frontends.http.fetched import readable
from logd.frontends.http.retrying import retrying
from logd.groups.messages import (
    NO_GENERATION,
    OffsetCommitPartition,
    OffsetCommitRequest,
    OffsetFetchResponse,
    TopicPartition,
)
from logd.records.record import Record

__all__ = ["ConsumerInstance", "InstanceConfig"]

_AUTO_COMMIT_S: Final = 5.0
_GROUP_RETRY_S: Final = 5.0
_RESETS: Final = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST}


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceConfig:
    """What ``POST /consumers/{g}`` set (Confluent's fields)."""

    group: str
    name: str
    format: str = "binary"
    auto_offset_reset: str = "latest"
    auto_commit: bool = True
    fetch_min_bytes: int = 1
    request_timeout_ms: int = 1000


#: A fetched record as the routes render it: (topic, partition, record).
Fetched = tuple[str, int, Record]


def _illegal(message: str) -> RestError:
    return RestError(409, ILLEGAL_STATE, f"Illegal state: {message}")


class ConsumerInstance:
    """See the module docstring."""

    def __init__(
        self, seam: BrokerSeam, config: InstanceConfig, caller: Caller, clock: Clock
    ) -> None:
        self._seam = seam
        self.config = config
        self.caller = caller
        self._clock = clock
        self.lock = asyncio.Lock()
        self.last_used = clock.monotonic()
        self.member: GroupMember | None = None
        self.manual: tuple[TopicPartition, ...] | None = None
        self.positions: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._last_commit = clock.monotonic()

    def touch(self) -> None:
        self.last_used = self._clock.monotonic()

    # -- what it reads ------------------------------------------------------------------------

    def assignment(self) -> tuple[TopicPartition, ...]:
        if self.manual is not None:
            return self.manual
        return self.member.assignment if self.member is not None else ()

    def subscription(self) -> tuple[str, ...]:
        member = self.member
        if member is None:
            return ()
        return member.subscribed.topics or member.subscribed.matching(
            sorted({tp.topic for tp in member.assignment})
        )

    async def subscribe(self, subscribed: Subscribed) -> None:
        if self.manual is not None:
            raise _illegal("Subscription to topics, partitions and pattern are mutually exclusive")
        if self.member is not None:
            await self.unsubscribe()
        self.member = GroupMember(
            self._seam, self.config.group, subscribed, self.caller, self._on_revoke
        )
        self.member.start()

    async def unsubscribe(self) -> None:
        member, self.member = self.member, None
        if member is not None:
            await member.close()
        self.manual = None
        self.positions.clear()

    async def assign(self, partitions: Sequence[TopicPartition]) -> None:
        if self.member is not None:
            raise RestError(
                409,
                CONSUMER_ALREADY_SUBSCRIBED,
                "Consumer cannot subscribe the the specified target because it has already "
                "subscribed to other topics.",
            )
        self.manual = tuple(dict.fromkeys(partitions))
        self.positions = {tp: p for tp, p in self.positions.items() if tp in self.manual}

    async def _on_revoke(self, partitions: tuple[TopicPartition, ...]) -> None:
        if self.config.auto_commit:
            await self._commit_positions(partitions, quiet=True)
        for tp in partitions:
            self.positions.pop(tp, None)

    async def close(self) -> None:
        if self.member is not None:
            await self.unsubscribe()
        elif self.config.auto_commit and self.manual:
            await self._commit_positions(self.manual, quiet=True)

    # -- positions ----------------------------------------------------------------------------

    def _held(self, partitions: Sequence[TopicPartition]) -> None:
        held = set(self.assignment())
        for tp in partitions:
            if tp not in held:
                raise _illegal(f"No current assignment for partition {tp.topic}-{tp.partition}")

    def seek(self, offsets: Sequence[tuple[TopicPartition, int]]) -> None:
        self._held([tp for tp, _ in offsets])
        for tp, offset in offsets:
            self.positions[tp] = offset

    async def seek_to(self, partitions: Sequence[TopicPartition], spec: OffsetSpec,
                      timestamp_ms: int = -1) -> None:  # fmt: skip
        self._held(partitions)
        found = await self._list_offsets(partitions, spec, timestamp_ms)
        for tp, offset in found.items():
            self.positions[tp] = offset

    async def seek_to_times(self, times: Sequence[tuple[TopicPartition, int]]) -> None:
        self._held([tp for tp, _ in times])
        for tp, ts in times:
            found = await self._list_offsets([tp], OffsetSpec.TIMESTAMP, ts)
            if found[tp] < 0:  # no record that late: the end, as Kafka's offsetsForTimes
                found = await self._list_offsets([tp], OffsetSpec.LATEST)
            self.positions[tp] = found[tp]

    async def _list_offsets(
        self, partitions: Sequence[TopicPartition], spec: OffsetSpec, timestamp_ms: int = -1
    ) -> dict[TopicPartition, int]:
        queries = [
            ListOffsetsQuery(tp.topic, tp.partition, spec, timestamp_ms) for tp in partitions
        ]
        out: dict[TopicPartition, int] = {}
        for result in await self._seam.list_offsets(queries, caller=self.caller):
            if result.error is not None:
                raise from_logd(result.error, result.topic)
            out[TopicPartition(result.topic, result.partition)] = result.offset
        return out

    async def _initialize(self, partitions: Sequence[TopicPartition]) -> None:
        """Positions of partitions held without one: committed, else auto.offset.reset."""
        missing = [tp for tp in partitions if tp not in self.positions]
        if not missing:
            return
        committed = await self.committed(missing)
        reset = []
        for tp in missing:
            if committed.get(tp, -1) >= 0:
                self.positions[tp] = committed[tp]
            else:
                reset.append(tp)
        await self._reset(reset)

    async def _reset(self, partitions: Sequence[TopicPartition]) -> None:
        if not partitions:
            return
        spec = _RESETS.get(self.config.auto_offset_reset)
        if spec is None:
            names = ", ".join(f"{tp.topic}-{tp.partition}" for tp in partitions)
            raise _illegal(f"no offset for {names} and auto.offset.reset is none")
        self.positions.update(await self._list_offsets(partitions, spec))

    # -- reading ------------------------------------------------------------------------------

    async def records(
        self, timeout_ms: int, max_bytes: int, size: Callable[[Record], int]
    ) -> list[Fetched]:
        """Records from the positions on, waiting up to ``timeout_ms`` for some; at most
        ``max_bytes`` as ``size`` counts them (at least one record, as Kafka's fetch)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000.0
        if self.member is not None and not self.member.stable.is_set():
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0)):
                    await self.member.stable.wait()
            except TimeoutError:
                error = self.member.error
                if error is not None and not error.retriable:  # else: still joining
                    raise from_logd(error) from None
                return []
        held = self.assignment()
        if not held:
            return []
        await self._initialize(held)
        wait_ms = max(int((deadline - loop.time()) * 1000), 0)
        requests = [FetchPartitionRequest(tp.topic, tp.partition, self.positions[tp], max_bytes)
                    for tp in held]  # fmt: skip
        results = await self._seam.fetch(
            requests, max_wait_ms=wait_ms, min_bytes=self.config.fetch_min_bytes,
            max_bytes=max_bytes, caller=self.caller,
        )  # fmt: skip
        out: list[Fetched] = []
        budget = max_bytes
        for result in results:
            tp = TopicPartition(result.topic, result.partition)
            if isinstance(result.error, OffsetOutOfRangeError):
                self.positions.pop(tp, None)
                await self._reset([tp])
                continue
            if result.error is not None:
                raise from_logd(result.error, result.topic)
            budget = self._take(tp, result.records, out, budget, size)
        await self._auto_commit()
        return out

    def _take(self, tp: TopicPartition, data: bytes, out: list[Fetched], budget: int,
              size: Callable[[Record], int]) -> int:  # fmt: skip
        """Appends the records of ``data`` from ``tp``'s position on while ``budget`` lasts
        (the first record always); moves the position; the budget left."""
        records, end = readable(data, self.positions[tp])
        for record in records:
            cost = size(record)
            if cost > budget and out:
                self.positions[tp] = record.offset
                return 0
            out.append((tp.topic, tp.partition, record))
            budget -= cost
        self.positions[tp] = end
        return budget

    # -- commits ------------------------------------------------------------------------------

    async def _auto_commit(self) -> None:
        now = self._clock.monotonic()
        if self.config.auto_commit and now - self._last_commit >= _AUTO_COMMIT_S:
            self._last_commit = now
            await self._commit_positions(self.assignment(), quiet=True)

    async def commit(self, offsets: Sequence[tuple[TopicPartition, int]] | None) -> None:
        """``offsets``: the last records consumed (each + 1 is stored); None: the positions."""
        if offsets is None:
            await self._commit_positions(self.assignment(), quiet=False)
        else:
            await self._commit({tp: offset + 1 for tp, offset in offsets}, quiet=False)

    async def _commit_positions(self, partitions: Sequence[TopicPartition], *, quiet: bool) -> None:
        wanted = {tp: self.positions[tp] for tp in partitions if tp in self.positions}
        changed = {tp: o for tp, o in wanted.items() if self._committed.get(tp) != o}
        if changed:
            await self._commit(changed, quiet=quiet)

    async def _commit(self, offsets: dict[TopicPartition, int], *, quiet: bool) -> None:
        member = self.member
        generation, member_id = NO_GENERATION, ""
        if member is not None and member.stable.is_set():
            generation, member_id = member.generation, member.member_id
        request = OffsetCommitRequest(
            self.config.group,
            tuple(OffsetCommitPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()),
            generation_id=generation,
            member_id=member_id,
        )
        try:
            answer = await self._seam.commit_offsets(request, caller=self.caller)
            for part in answer.partitions:
                if part.error != ErrorCode.NONE:
                    raise error_for_code(part.error, f"commit of {part.topic}-{part.partition}")
        except LogdError as exc:
            if quiet:
                return
            raise from_logd(exc) from None
        self._committed.update(offsets)

    async def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets (-1: none)."""
        group, wanted = self.config.group, list(partitions)

        async def fetch() -> OffsetFetchResponse:
            await coordinated_here(self._seam, group, self.caller,
                                   "create the consumer instance there")  # fmt: skip
            answer = await self._seam.fetch_offsets(group, wanted, caller=self.caller)
            if answer.error != ErrorCode.NONE:
                raise error_for_code(answer.error, answer.error_message)
            return answer

        try:  # a manual assignment may be the group's first call: it waits for the group
            answer = await retrying(fetch, _GROUP_RETRY_S)
        except LogdError as exc:
            raise from_logd(exc) from None
        out = {TopicPartition(p.topic, p.partition): p.offset for p in answer.partitions
               if p.error == ErrorCode.NONE}  # fmt: skip
        return {tp: out.get(tp, -1) for tp in partitions}
