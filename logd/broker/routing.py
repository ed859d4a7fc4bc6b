"""Requests a front end cannot route itself, answered by whichever broker can: the seam
plus forwarding to the leader (or the group's coordinator) on another broker.

Kafka and logd clients find a partition's leader themselves (metadata, NOT_LEADER hints);
an MQTT device or an HTTP client talks to one broker, whatever it leads. :class:`Router`
gives such a front end the seam's produce, fetch, list-offsets and offset commit/fetch for
*any* partition or group: what this broker leads goes straight to the seam; the rest goes,
with the caller, to the broker that leads it through a :class:`Forwarder` (gRPC's
``logd.v1.ClusterForward``, ``logd.frontends.grpc.forwarder``), which runs it through its
own seam — its gate included — and never forwards it again.

* Produce keeps each partition's order: once one batch of a partition is forwarded, the next
  ones wait behind it (one in flight per partition), and a partition whose leadership moved
  here is appended locally again once the forwarded ones are answered.
* Fetch is split by leader; the parts long-poll concurrently and the answer comes when one
  part brings records (the others are cancelled and answer empty) or all have answered.
* Leaders are learnt from NOT_LEADER_OR_FOLLOWER hints (and forgotten on the next one), so a
  partition led here costs nothing more than the seam; an unknown one is asked locally first.

The Forwarder protocol keeps gRPC out of the core (``tests/test_layering.py``): the node
builds the Router with the gRPC front end's implementation.

Ownership: one per broker, on its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from logd.broker.api import (
    FetchPartitionRequest,
    FetchPartitionResult,
    LeaderHint,
    ListOffsetsQuery,
    ListOffsetsResult,
    ProduceResult,
)
from logd.broker.seam import ANONYMOUS, BrokerSeam, Caller
from logd.errors import NotLeaderOrFollowerError
from logd.groups.messages import (
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchResponse,
    TopicPartition,
)

__all__ = ["Forwarder", "Router"]

_log = logging.getLogger(__name__)


class Forwarder(Protocol):
    """Sends a request to the broker at ``address`` (``HOST:PORT``) to run as ``caller``.
    Failures to reach it come back as answers carrying BROKER_NOT_AVAILABLE."""

    async def produce(
        self, address: str, topic: str, partition: int, acks: int, records: bytes,
        timeout_ms: int, caller: Caller,
    ) -> ProduceResult: ...  # fmt: skip

    async def fetch(
        self, address: str, partitions: Sequence[FetchPartitionRequest], *, max_wait_ms: int,
        min_bytes: int, max_bytes: int, caller: Caller,
    ) -> list[FetchPartitionResult]: ...  # fmt: skip

    async def list_offsets(
        self, address: str, queries: Sequence[ListOffsetsQuery], caller: Caller
    ) -> list[ListOffsetsResult]: ...

    async def commit_offsets(
        self, address: str, request: OffsetCommitRequest, caller: Caller
    ) -> OffsetCommitResponse: ...

    async def fetch_offsets(
        self,
        address: str,
        group_id: str,
        partitions: Sequence[TopicPartition] | None,
        caller: Caller,
    ) -> OffsetFetchResponse: ...

    async def close(self) -> None: ...


def _elsewhere(error: object, hint: LeaderHint | None, me: int) -> str | None:
    """The address to forward to, when an answer says another broker leads."""
    if not isinstance(error, NotLeaderOrFollowerError) or hint is None:
        return None
    if hint.leader_id < 0 or hint.leader_id == me or not hint.address:
        return None
    return hint.address


class Router:
    """See the module docstring."""

    def __init__(self, seam: BrokerSeam, forwarder: Forwarder) -> None:
        self.seam = seam
        self._forwarder = forwarder
        self._leaders: dict[TopicPartition, str] = {}  # led elsewhere: its leader's address
        self._chains: dict[TopicPartition, asyncio.Future[ProduceResult]] = {}

    @property
    def node_id(self) -> int:
        return self.seam.node_id

    async def close(self) -> None:
        await self._forwarder.close()

    # -- produce ----------------------------------------------------------------------------

    def produce(
        self, topic: str, partition: int, acks: int, records: bytes, timeout_ms: int = 0, *,
        caller: Caller = ANONYMOUS,
    ) -> ProduceResult | asyncio.Future[ProduceResult]:  # fmt: skip
        """As :meth:`BrokerSeam.produce_nowait`, for a partition led anywhere."""
        tp = TopicPartition(topic, partition)
        previous = self._chains.get(tp)
        address = None
        if previous is None:
            answer = self.seam.produce_nowait(topic, partition, acks, records, timeout_ms,
                                              caller=caller)  # fmt: skip
            if not isinstance(answer, ProduceResult):
                return answer
            address = _elsewhere(answer.error, answer.leader_hint, self.node_id)
            if address is None:
                return answer
        task = asyncio.ensure_future(
            self._forward_produce(previous, address, tp, acks, records, timeout_ms, caller)
        )
        self._chains[tp] = task
        task.add_done_callback(lambda done: self._chains.pop(tp, None)
                               if self._chains.get(tp) is done else None)  # fmt: skip
        return task

    async def _forward_produce(
        self,
        previous: asyncio.Future[ProduceResult] | None,
        address: str | None,
        tp: TopicPartition,
        acks: int,
        records: bytes,
        timeout_ms: int,
        caller: Caller,
    ) -> ProduceResult:
        if previous is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(previous)  # the partition's order: one at a time
        for _ in range(2):
            if address is None:  # behind another one: maybe leadership moved here since
                local = self.seam.produce_nowait(tp.topic, tp.partition, acks, records,
                                                 timeout_ms, caller=caller)  # fmt: skip
                answer = local if isinstance(local, ProduceResult) else await local
                address = _elsewhere(answer.error, answer.leader_hint, self.node_id)
                if address is None:
                    return answer
            answer = await self._forwarder.produce(
                address, tp.topic, tp.partition, acks, records, timeout_ms, caller
            )
            # The leader we asked moved on: once more, locally first (it may be us now).
            if not isinstance(answer.error, NotLeaderOrFollowerError):
                return answer
            address = None
        return answer

    # -- fetch and offsets ------------------------------------------------------------------

    async def fetch(
        self, partitions: Sequence[FetchPartitionRequest], *, max_wait_ms: int, min_bytes: int,
        max_bytes: int, caller: Caller = ANONYMOUS,
    ) -> list[FetchPartitionResult]:  # fmt: skip
        """As :meth:`BrokerSeam.fetch`, for partitions led anywhere (see the module doc)."""
        groups: dict[str | None, list[FetchPartitionRequest]] = {}
        for p in partitions:
            groups.setdefault(self._leaders.get(TopicPartition(p.topic, p.partition)), []).append(p)
        calls = {
            address: asyncio.ensure_future(
                self.seam.fetch(parts, max_wait_ms=max_wait_ms, min_bytes=min_bytes,
                                max_bytes=max_bytes, caller=caller)
                if address is None else
                self._forwarder.fetch(address, parts, max_wait_ms=max_wait_ms,
                                      min_bytes=min_bytes, max_bytes=max_bytes, caller=caller)
            )
            for address, parts in groups.items()
        }  # fmt: skip
        results = await self._first_with_records(calls, groups)
        for r in results:
            self._learn(TopicPartition(r.topic, r.partition), r.error, r.leader_hint)
        return results

    async def _first_with_records(
        self,
        calls: Mapping[str | None, asyncio.Future[list[FetchPartitionResult]]],
        groups: dict[str | None, list[FetchPartitionRequest]],
    ) -> list[FetchPartitionResult]:
        results: list[FetchPartitionResult] = []
        pending = set(calls.values())
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                got = [r for call in done for r in call.result()]
                results += got
                if any(r.records for r in got):
                    break
        finally:
            for call in pending:
                call.cancel()
        for address, call in calls.items():
            if call in pending:  # cut short: these partitions answer empty this time
                results += [FetchPartitionResult(p.topic, p.partition) for p in groups[address]]
        return results

    def _learn(self, tp: TopicPartition, error: object, hint: LeaderHint | None) -> None:
        address = _elsewhere(error, hint, self.node_id)
        if address is not None:
            self._leaders[tp] = address
        elif error is not None:
            self._leaders.pop(tp, None)  # ask locally next time: it says who leads now

    async def list_offsets(
        self, queries: Sequence[ListOffsetsQuery], *, caller: Caller = ANONYMOUS
    ) -> list[ListOffsetsResult]:
        """As :meth:`BrokerSeam.list_offsets`, for partitions led anywhere."""
        answers = await self.seam.list_offsets(queries, caller=caller)
        out: list[ListOffsetsResult] = []
        elsewhere: dict[str, list[int]] = {}
        for i, a in enumerate(answers):
            address = _elsewhere(a.error, a.leader_hint, self.node_id)
            out.append(a)
            if address is not None:
                elsewhere.setdefault(address, []).append(i)
        for address, indexes in elsewhere.items():
            forwarded = await self._forwarder.list_offsets(
                address, [queries[i] for i in indexes], caller
            )
            for i, answer in zip(indexes, forwarded, strict=False):
                out[i] = answer
        return out

    async def commit_offsets(
        self, request: OffsetCommitRequest, *, caller: Caller = ANONYMOUS
    ) -> OffsetCommitResponse:
        """As :meth:`BrokerSeam.commit_offsets`, wherever the group is coordinated."""
        address = await self._coordinator(request.group_id, caller)
        if address is None:
            return await self.seam.commit_offsets(request, caller=caller)
        return await self._forwarder.commit_offsets(address, request, caller)

    async def fetch_offsets(
        self,
        group_id: str,
        partitions: Sequence[TopicPartition] | None = None,
        *,
        caller: Caller = ANONYMOUS,
    ) -> OffsetFetchResponse:
        """As :meth:`BrokerSeam.fetch_offsets`, wherever the group is coordinated."""
        address = await self._coordinator(group_id, caller)
        if address is None:
            return await self.seam.fetch_offsets(group_id, partitions, caller=caller)
        return await self._forwarder.fetch_offsets(address, group_id, partitions, caller)

    async def _coordinator(self, group_id: str, caller: Caller) -> str | None:
        """The coordinator's address when it is another broker, else None (this one — or
        none known: the local seam answers with the error)."""
        (where,) = await self.seam.find_coordinators([group_id], caller=caller)
        if where.error is not None or where.node_id in (self.node_id, -1):
            return None
        host = f"[{where.host}]" if ":" in where.host else where.host
        return f"{host}:{where.port}"
