"""One ``FetchStream`` call: a long-poll fetch that goes on without new requests (issue 22).

Why. With request/answer fetches a consumer has no fetch waiting at the broker while an
answer travels to it and the next request travels back; at 10,000 msgs/s over 8
partitions, 95 % of records were committed in that gap and waited for the next request
(bench/latency_trace.py: 3.6 ms p50 under load, against 0.3 ms for a record that found a
fetch waiting). Here the broker fetches again as soon as it has handed an answer to gRPC,
from where each partition's answer ended, so a commit always finds a fetch waiting.

Each round is exactly a ``Fetch`` (``BrokerSeam.fetch``: the same admission, limits,
long poll and byte budget); only the offsets move: to the offset after the last whole
batch a partition's answer held. The call ends OK after an answer that carries a
partition error (the client decides what to do, then asks again), one that holds data but
no whole batch of a partition (the client asks again with more bytes, as after such a
``Fetch``), after the one answer to a request naming no partition, after a round that
found no records when the request waits for nothing (``max_wait_ms`` 0: no spinning), and
when the broker drains; a request that fails as a whole ends it with that
error's status, as ``Fetch`` does.

Backpressure: ``context.write`` waits while HTTP/2's flow-control window is full, so a
consumer that stops reading (its buffer is full) stops this loop after one answer more
than it read; a fetch quota mutes the loop for the throttle time, as it mutes a produce
stream. Metrics: each round is reported as one ``FetchStream`` request (its long poll and
its write). Ownership: one coroutine per call, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

import grpc

from logd.broker.api import FetchPartitionRequest, FetchPartitionResult
from logd.broker.seam import BrokerSeam, Caller
from logd.frontends.grpc import convert
from logd.frontends.grpc.handlers import LISTENER
from logd.records.header import parse_header
from logd.records.reader import split_batches
from logd.v1 import broker_pb2

__all__ = ["next_requests", "serve_fetch_stream"]


async def serve_fetch_stream(
    seam: BrokerSeam,
    request: broker_pb2.FetchRequest,
    context: grpc.aio.ServicerContext,
    caller: Caller,
) -> None:
    """Answer ``request`` again and again (see the module doc)."""
    partitions: Sequence[FetchPartitionRequest] | None = convert.fetch_requests(request)
    while partitions is not None:
        started = time.perf_counter()
        results = await seam.fetch(
            partitions,
            max_wait_ms=request.max_wait_ms,
            min_bytes=request.min_bytes,
            max_bytes=request.max_bytes,
            caller=caller,
        )
        await context.write(convert.fetch_response(results))
        # Each round is one fetch answered, for the request metrics (as a unary Fetch is).
        seam.telemetry.request(LISTENER, "FetchStream", started)
        if seam.draining:
            return
        partitions = next_requests(partitions, results)
        if request.max_wait_ms <= 0 and not any(r.records for r in results):
            return  # asked to wait for nothing: another round would only spin
        wait_ms = seam.security.throttle_ms(caller)
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000.0)


def next_requests(
    asked: Sequence[FetchPartitionRequest], answered: Sequence[FetchPartitionResult]
) -> list[FetchPartitionRequest] | None:
    """The next round's partitions: each from the offset after the last whole batch its
    answer held. None: the stream ends here (an error, or data without a whole batch)."""
    if not asked:
        return None  # nothing to fetch: the one (empty) answer is the whole stream
    results = {(r.topic, r.partition): r for r in answered}
    out = []
    for p in asked:
        r = results.get((p.topic, p.partition))
        if r is None or r.error is not None:
            return None
        if not r.records:
            out.append(p)
            continue
        batches = split_batches(r.records).batches
        if not batches:
            return None
        out.append(dataclasses.replace(p, offset=parse_header(batches[-1]).next_offset))
    return out
