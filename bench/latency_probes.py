"""Timestamps at every stage of a record's way, for bench/latency_trace.py (issue 22).

An instrument, not part of logd: it wraps a few methods of the client and of the broker
(monkeypatching, installed before anything runs) so that each records
``time.perf_counter_ns()`` -- CLOCK_MONOTONIC on Linux, one clock for every process of the
machine -- with what identifies the records it handled (topic, partition, offsets, or a
produce request's correlation id). Nothing here changes what the wrapped code does; each
probe costs ~1 us (a tuple appended to a list), i.e. a few percent of a record's way at
10,000 msgs/s. Events are kept in memory (:data:`EVENTS`) and, in a broker, written as
JSON lines to ``$LOGD_TRACE_DIR/node<id>.jsonl`` when the process exits (SIGTERM: the
node's clean shutdown).

The probes, by stage (the names bench/latency_trace.py joins on):

client  ``taken``   the sender takes a batch out of the accumulator (the batch closes);
        ``wire``    the produce stream's gRPC ``write`` of that batch: called, returned;
        ``acked``   the produce answer: the batch's base offset, count and correlation id;
        ``got``     the fetcher took a partition's answer: offsets [first, next);
broker  ``recv``    the produce stream (or the Kafka listener: it began handling a request)
                    handed a request to the core; ``append`` its offsets;
        ``written`` a log append (leader or follower; RF=1 through the one-voter Raft group);
        ``fsynced`` a log fsync returned, with the offset it made durable (and when
                    that flush began: its thread had the log, and the GIL; and how long
                    its fsync calls themselves took);
        ``frecv``   (RF=3) a follower's driver received an append with entries;
        ``ack``     (RF=3) the leader's driver received a follower's acknowledgement;
        ``commit``  ``Partition.commit``: the high watermark and acks=all answers move;
        ``read``    a fetch read a partition (``woken``: a re-read after it waited);
        ``answered`` a Fetch answer went to gRPC (the unary handler returned it, or a
                    FetchStream's ``write`` was called), or a Kafka Fetch answer was
                    written to its socket (the listener's handler task is the fetch task).

Why here and not behind the public client API: this times the client's insides, which
no user of logd needs to reach (tests/client/test_layout.py names this module as the one
instrument allowed to import them).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["EVENTS", "dump", "install_broker", "install_client", "produce_key"]

#: ``(kind, *fields, t_ns)`` in the order they happened (list.append is atomic under the
#: GIL, so the flusher threads may append too).
EVENTS: list[tuple[Any, ...]] = []
_now = time.perf_counter_ns
_installed: set[str] = set()


def _wrap(owner: Any, name: str, make: Callable[[Any], Any], params: Sequence[str]) -> None:
    """Replace ``owner.name`` by ``make(original)``. The probe reads the leading arguments
    ``params`` by position (and passes every argument on untouched): a signature that no
    longer starts with them raises here, at install, not as a wrong trace."""
    orig = getattr(owner, name)
    names = tuple(inspect.signature(orig).parameters)[: len(params)]
    if names != tuple(params):
        raise RuntimeError(f"probe {owner.__name__}.{name}: expected {params}, found {names}")
    setattr(owner, name, functools.wraps(orig)(make(orig)))


def _ranges(records: bytes) -> tuple[int, int] | None:
    """[first, next) offsets of the whole batches in ``records``."""
    from logd.records.header import parse_header
    from logd.records.reader import split_batches

    batches = split_batches(records).batches
    if not batches:
        return None
    return parse_header(batches[0]).base_offset, parse_header(batches[-1]).next_offset


def produce_key(request: Any) -> tuple[str, int, int] | None:
    """(topic, partition, correlation id) of a produce request written to a gRPC stream:
    the client writes it as its wire bytes (``produce_request.encode_produce_request``:
    no message object), so those are read back here; None for any other stream's
    messages (a FetchStream request is a message object; a Raft frame never passes here)."""
    from logd.v1 import broker_pb2

    if isinstance(request, bytes):
        try:
            request = broker_pb2.ProduceRequest.FromString(request)
        except Exception:  # protobuf's DecodeError: not a produce request
            return None
    if isinstance(request, broker_pb2.ProduceRequest):
        return request.topic, request.partition, request.correlation_id
    return None


def install_client() -> None:
    """Probe this process's logd client (producer sender, produce stream, fetcher)."""
    if "client" in _installed:
        return
    _installed.add("client")
    import grpc.aio._call as grpc_call

    from logd.client.consumer.fetcher import Fetcher
    from logd.client.producer.accumulator import Accumulator
    from logd.client.producer.sender import Sender

    taken: dict[int, int] = {}

    def pop(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:
            batch = orig(self, *args, **kwargs)
            taken[id(batch)] = _now()
            return batch

        return probe

    def write(orig: Any) -> Any:
        async def probe(self: Any, request: Any, *args: Any, **kwargs: Any) -> None:
            t = _now()
            await orig(self, request, *args, **kwargs)
            key = produce_key(request)
            if key is not None:
                EVENTS.append(("wire", *key, t, _now()))

        return probe

    def answered(orig: Any) -> Any:
        def probe(self: Any, batch: Any, pq: Any, response: Any, *args: Any, **kw: Any) -> None:
            t, count = _now(), len(batch.values)
            orig(self, batch, pq, response, *args, **kw)
            if batch.error is None and batch.base_offset >= 0 and response is not None:
                EVENTS.append(("acked", batch.topic, batch.partition, batch.base_offset, count,
                               response.correlation_id, taken.pop(id(batch), 0), t))  # fmt: skip

        return probe

    def take(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> None:
            t = _now()
            orig(self, *args, **kwargs)
            _, pd, state, _, offset = args[:5]
            if pd.records and state.fetch_offset > offset:
                EVENTS.append(("got", pd.topic, pd.partition, offset, state.fetch_offset, t))

        return probe

    _wrap(Accumulator, "pop", pop, ("self", "pq"))
    _wrap(grpc_call._StreamRequestMixin, "write", write, ("self", "request"))
    _wrap(Sender, "_answered", answered, ("self", "batch", "pq", "response"))
    _wrap(Fetcher, "_take", take, ("self", "address", "pd", "state", "epoch", "offset"))


def install_broker(node_id: int = 0) -> None:
    """Probe this process's broker (produce stream, partition, log, Raft driver, fetch);
    ``node_id`` names its events file."""
    if "broker" in _installed:
        return
    _installed.add("broker")
    from logd.broker import fetch as fetch_module
    from logd.broker.partition import Partition
    from logd.cluster.driver import RaftDriver
    from logd.frontends.grpc.produce_stream import ProduceStream
    from logd.frontends.grpc.services import BrokerService
    from logd.frontends.kafka.connection import Connection as KafkaConnection
    from logd.storage.log import Log
    from replication import AppendRequest, AppendResponse

    received = [0]

    def submit(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> None:
            received[0] = _now()
            orig(self, *args, **kwargs)

        return probe

    def dispatch(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> None:
            received[0] = _now()  # a Kafka Produce appends before _dispatch returns
            orig(self, *args, **kwargs)

        return probe

    def kafka_done(orig: Any) -> Any:
        def probe(self: Any, slot: Any, future: Any, *args: Any, **kwargs: Any) -> None:
            orig(self, slot, future, *args, **kwargs)  # writes the answers now in order
            if slot.name == "Fetch":  # slot.future: the task the fetch ran in
                EVENTS.append(("answered", id(slot.future), _now()))

        return probe

    def append(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = orig(self, *args, **kwargs)
            EVENTS.append(("append", self.tp.topic, self.tp.partition, result.base_offset,
                           result.last_offset, received[0], _now()))  # fmt: skip
            return result

        return probe

    def written(orig: Any) -> Any:
        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:
            before = self.log_end_offset
            info = orig(self, *args, **kwargs)
            EVENTS.append(("written", self.name, before, self.log_end_offset, _now()))
            return info

        return probe

    def flush(orig: Any) -> Any:
        def probe(self: Any, fsync: Any = os.fdatasync, *args: Any, **kwargs: Any) -> int:
            began = _now()
            synced = [0]  # ns inside the fsync calls themselves (the rest: locks, the GIL)

            def timed(fd: int) -> None:
                t = _now()
                try:
                    fsync(fd)
                finally:
                    synced[0] += _now() - t

            offset: int = orig(self, timed, *args, **kwargs)
            EVENTS.append(("fsynced", self.name, offset, _now(), began, synced[0]))
            return offset

        return probe

    def commit(orig: Any) -> Any:
        def probe(self: Any, end_offset: int, *args: Any, **kwargs: Any) -> None:
            EVENTS.append(("commit", self.tp.topic, self.tp.partition, end_offset, _now()))
            orig(self, end_offset, *args, **kwargs)

        return probe

    def receive(orig: Any) -> Any:
        def probe(self: Any, messages: Any, *args: Any, **kwargs: Any) -> None:
            t = _now()
            for name, m in messages:
                if isinstance(m, AppendRequest) and m.entries:
                    EVENTS.append(("frecv", name, m.entries[0].base_offset,
                                   m.entries[-1].last_offset + 1, t))  # fmt: skip
                elif isinstance(m, AppendResponse) and not m.reject:
                    EVENTS.append(("ack", name, m.src, m.match_offset + 1, t))
            orig(self, messages, *args, **kwargs)

        return probe

    def read_all(orig: Any) -> Any:
        signature = inspect.signature(orig)

        def probe(*args: Any, **kwargs: Any) -> Any:
            t = _now()
            out = orig(*args, **kwargs)
            before = signature.bind(*args, **kwargs).arguments.get("before", ())
            task = id(asyncio.current_task())
            for r in out[0]:
                span = _ranges(r.records) if r.records else None
                if span is not None:
                    EVENTS.append(("read", r.topic, r.partition, *span, bool(before), task, t))
            return out

        return probe

    def fetch(orig: Any) -> Any:
        async def probe(self: Any, *args: Any, **kwargs: Any) -> Any:
            answer = await orig(self, *args, **kwargs)
            EVENTS.append(("answered", id(asyncio.current_task()), _now()))
            return answer

        return probe

    def fetch_stream(orig: Any) -> Any:
        async def probe(self: Any, request: Any, context: Any, *args: Any, **kw: Any) -> Any:
            return await orig(self, request, _TimedWrites(context), *args, **kw)

        return probe

    _wrap(ProduceStream, "_submit", submit, ("self", "request"))
    _wrap(KafkaConnection, "_dispatch", dispatch, ("self", "frame"))
    _wrap(KafkaConnection, "_on_done", kafka_done, ("self", "slot", "future"))
    _wrap(Partition, "append", append, ("self", "batch"))
    _wrap(Log, "append", written, ("self",))
    _wrap(Log, "append_replicated", written, ("self",))
    _wrap(Log, "flush", flush, ("self",))
    _wrap(Partition, "commit", commit, ("self", "end_offset"))
    _wrap(RaftDriver, "receive", receive, ("self", "messages"))
    _wrap(fetch_module, "_read_all", read_all, ("requests", "lookup", "hint", "budget"))
    if "before" not in inspect.signature(fetch_module._read_all).parameters:
        raise RuntimeError("probe fetch._read_all: no 'before' parameter (a re-read)")
    _wrap(BrokerService, "fetch", fetch, ("self", "request"))
    _wrap(BrokerService, "fetch_stream", fetch_stream, ("self", "request", "context"))
    out = os.environ.get("LOGD_TRACE_DIR")
    if out:
        atexit.register(dump, os.path.join(out, f"node{node_id}.jsonl"))


class _TimedWrites:
    """A servicer context whose ``write`` records ``answered`` as it hands gRPC the message
    (its completion comes back later, through gRPC's poller thread)."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def write(self, message: Any) -> None:
        EVENTS.append(("answered", id(asyncio.current_task()), _now()))
        await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def dump(path: str) -> None:
    """Write :data:`EVENTS` as JSON lines to ``path``."""
    with open(path, "w") as f:
        for event in EVENTS:
            f.write(json.dumps(event) + "\n")
