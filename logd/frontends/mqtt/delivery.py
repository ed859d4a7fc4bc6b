"""Subscriptions back out of the log: one session's filters, the partitions they read, and
the records that flow to its connection as they commit.

The rules' reverse direction names the logd topics a filter can match
(:meth:`RuleSet.sources`); each partition of them is read from a position — the log end
when the subscription is made, the committed offset of the session's consumer group when a
persistent session resumes — by one long-poll fetch over all of them (the seam's
``fetch``: it answers when any has data). Each record's MQTT topic is its ``mqtt-topic``
header or the reverse mapping; it goes out once, at the highest QoS of the matching
subscriptions (5.0 section 3.3.4: one message, every matching Subscription Identifier).

Back-pressure: QoS 1/2 sends stop at the client's Receive Maximum (the connection's
``window``) and QoS 0 ones when the socket's buffer is over its mark; the loop then waits
instead of fetching further, so nothing queues without bound. A partition's committed
position is its oldest record sent and not acknowledged (or its read position when none
is), so a resumed session gets again what was in flight: at least once.

Ownership: one per session, on the broker's event loop; the task is the loop below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from logd.broker.api import FetchPartitionRequest, FetchPartitionResult
from logd.broker.seam import Caller
from logd.errors import LogdError
from logd.frontends.mqtt.access import LogAccess
from logd.frontends.mqtt.mapping import CLIENT_HEADER, TOPIC_HEADER, record_publish
from logd.frontends.mqtt.packets import Publish, Subscription
from logd.frontends.mqtt.properties import NO_PROPERTIES, Properties
from logd.frontends.mqtt.rules import RuleSet
from logd.frontends.mqtt.topics import TopicFilter, split_topic
from logd.groups.messages import TopicPartition
from logd.records.decoder import decode_batch
from logd.records.header import parse_header
from logd.records.reader import split_batches
from logd.records.record import Record

__all__ = ["Delivery", "Outlet", "Subscribed"]

_log = logging.getLogger(__name__)
_MAX_WAIT_MS = 500
_FETCH_BYTES = 1024 * 1024
_REFRESH_S = 5.0  # how often wildcard filters look for new topics and partitions
_RETRY_S = 0.2
# Shared, always empty: a session that never sent at QoS 1/2 holds these instead of two
# dicts of its own (bytes per idle device). Only ``_deliver`` adds, after replacing them.
_NO_INFLIGHT: dict[int, tuple[TopicPartition, int]] = {}
_NO_UNACKED: dict[TopicPartition, deque[int]] = {}


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("mqtt: a subscription's delivery stopped", exc_info=task.exception())


class Outlet(Protocol):
    """Where a session's PUBLISHes go: its connection."""

    @property
    def window(self) -> int: ...

    @property
    def writable(self) -> bool: ...

    async def until_writable(self) -> None: ...

    def send_publish(self, publish: Publish) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Subscribed:
    filter: TopicFilter
    options: Subscription
    identifier: int | None


class Delivery:
    """See the module docstring. Slotted: one per connected device (bytes per idle one)."""

    __slots__ = (
        "_access", "_caller", "_changed", "_client_id", "_inflight", "_outlet", "_queued",
        "_refreshed", "_rules", "_task", "_topics_seen", "_unacked", "_window_open",
        "delivered", "dirty", "positions", "subs", "version5",
    )  # fmt: skip

    def __init__(
        self,
        access: LogAccess,
        rules: Callable[[], RuleSet],
        caller: Caller,
        client_id: str,
        version5: bool,
    ) -> None:
        self._access = access
        self._rules = rules
        self._caller = caller
        self._client_id = client_id.encode("utf-8")
        self.version5 = version5
        self._queued: deque[Publish] | None = None  # retained messages, before the rest
        self.subs: dict[str, Subscribed] = {}
        self.positions: dict[TopicPartition, int] = {}
        self._unacked = _NO_UNACKED  # sent at QoS 1/2, not acknowledged: offsets, by partition
        self._inflight = _NO_INFLIGHT  # the same by packet id
        self._outlet: Outlet | None = None
        # The loop and what it waits on exist only while the session subscribes to
        # something: an idle device has no task and no event (``_run``'s start).
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self._window_open: asyncio.Event | None = None
        self._refreshed = 0.0
        self._topics_seen = -1  # the front end's count of topics it made, when last looked
        self.dirty = False  # positions moved since the last commit
        self.delivered = 0

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(
        self, subs: list[Subscribed], resume: dict[TopicPartition, int] | None = None
    ) -> None:
        """Add (or replace) subscriptions. Their partitions start at the log end — or, for a
        resumed session (``resume``: its committed positions), where it left off, and at
        the beginning for a partition it has no position in (one made while it was away)."""
        for sub in subs:
            self.subs[sub.filter.text] = sub
        await self._refresh_sources(resume or {}, at_end=resume is None)
        self._start()
        self.wake()

    async def unsubscribe(self, filters: list[str]) -> list[bool]:
        existed = [self.subs.pop(f, None) is not None for f in filters]
        await self._refresh_sources({}, at_end=False)
        return existed

    async def _refresh_sources(self, start: dict[TopicPartition, int], *, at_end: bool) -> None:
        """Follow the partitions the filters read now: new ones from ``start``, else their
        end (``at_end``: a new subscription) or beginning (they appeared since)."""
        self._refreshed = time.monotonic()
        self._topics_seen = self._access.topics_made
        rules = self._rules()
        topics = await self._access.list_topics() if self.subs else []
        wanted: set[str] = set()
        for sub in self.subs.values():
            wanted |= rules.sources(sub.filter, topics)
        wanted = set(self._access.readable(self._caller, wanted))  # only what it may read
        partitions: list[TopicPartition] = []
        for topic in sorted(wanted):
            info = self._access.cached(topic) or await self._access.topic(topic)
            if info is not None:
                partitions += [TopicPartition(topic, p) for p in range(info.partitions)]
        new = [tp for tp in partitions if tp not in self.positions]
        ends: dict[TopicPartition, int] = {}
        if at_end:
            ends = await self._access.end_offsets([tp for tp in new if tp not in start],
                                                  self._caller)  # fmt: skip
        for tp in new:
            self.positions[tp] = start.get(tp, ends.get(tp, 0))
            self.dirty = True
        for tp in set(self.positions) - set(partitions):
            del self.positions[tp]
            self._unacked.pop(tp, None)
            self.dirty = True

    def wake(self) -> None:
        """Something to do (a topic was made, a subscription or a retained message came)."""
        if self._changed is not None:
            self._changed.set()

    def queue(self, publish: Publish) -> None:
        """Send ``publish`` (a retained message) as soon as the window allows, before what
        is fetched next; the queue is bounded by the retained messages of one SUBSCRIBE."""
        if self._queued is None:
            self._queued = deque()
        self._queued.append(publish)
        self._start()
        self.wake()

    def _send_queued(self, outlet: Outlet) -> None:
        queued = self._queued
        while queued and outlet.writable and (outlet.window > 0 or not queued[0].qos):
            outlet.send_publish(queued.popleft())
            self.delivered += 1

    # -- the loop ---------------------------------------------------------------------------

    def attach(self, outlet: Outlet) -> None:
        """Start sending to ``outlet`` (a connection); idempotent."""
        self._outlet = outlet
        if self.subs or self._queued:
            self._start()

    def _start(self) -> None:
        if self._task is None and self._outlet is not None:
            self._changed = asyncio.Event()
            self._window_open = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt delivery")
            self._task.add_done_callback(_log_failure)

    async def detach(self) -> None:
        """The connection ended: stop; what was in flight is sent again on resume."""
        self._outlet = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        changed, window_open = self._changed, self._window_open
        assert changed is not None and window_open is not None
        while True:
            outlet = self._outlet
            if outlet is None or self._access.draining:
                return
            if self._queued:
                self._send_queued(outlet)
            if not self.positions:
                # Nothing to read yet (no topic matches): look again when the front end
                # makes a topic, or after a while (another door may have made one).
                changed.clear()
                if not self._queued:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), _REFRESH_S)
                    await self._refresh_sources({}, at_end=False)
                continue
            if outlet.window <= 0:
                window_open.clear()
                await window_open.wait()
                continue
            if not outlet.writable:
                await outlet.until_writable()
                continue
            stale = time.monotonic() - self._refreshed > _REFRESH_S
            if stale or self._topics_seen != self._access.topics_made:
                await self._refresh_sources({}, at_end=False)
            requests = [
                FetchPartitionRequest(tp.topic, tp.partition, offset, _FETCH_BYTES)
                for tp, offset in self.positions.items()
            ]
            try:
                results = await self._access.fetch(
                    requests, max_wait_ms=_MAX_WAIT_MS, max_bytes=_FETCH_BYTES,
                    caller=self._caller,
                )  # fmt: skip
            except LogdError as exc:
                _log.debug("mqtt: delivery fetch: %s", exc)
                await asyncio.sleep(_RETRY_S)
                continue
            for result in results:
                if result.error is None and result.records:
                    self._take(outlet, result)
            # A fetch that finds data answers without suspending: yield to the other
            # connections. After a failure (a leader moving) ask again shortly.
            failed = any(r.error is not None for r in results)
            await asyncio.sleep(_RETRY_S if failed else 0)

    def _take(self, outlet: Outlet, result: FetchPartitionResult) -> None:
        tp = TopicPartition(result.topic, result.partition)
        position = self.positions.get(tp)
        if position is None:
            return  # unsubscribed while fetching
        rules = self._rules()
        try:
            batches = split_batches(result.records).batches
        except LogdError as exc:
            _log.warning("mqtt: %s: unreadable fetch answer: %s", tp, exc)
            return
        for view in batches:
            header = parse_header(view)
            if header.last_offset < position:
                continue
            if not header.is_control and not self._batch(outlet, tp, view, position, rules):
                return
            position = header.last_offset + 1
            self.positions[tp] = position
            self.dirty = True

    def _batch(
        self, outlet: Outlet, tp: TopicPartition, view: memoryview, position: int, rules: RuleSet
    ) -> bool:
        """Deliver one batch from ``position``; False (position kept) when the connection
        has no room for more."""
        try:
            records = list(decode_batch(view))
        except LogdError as exc:  # the storage checks every batch it serves: seldom here
            _log.warning("mqtt: %s: skipping an unreadable batch: %s", tp, exc)
            return True
        for record in records:
            if record.offset >= position and not self._deliver(outlet, tp, record, rules):
                self.positions[tp] = record.offset
                return False
        return True

    def _deliver(self, outlet: Outlet, tp: TopicPartition, record: Record, rules: RuleSet) -> bool:
        """Send one record (or skip it); False when the window or the socket is full."""
        headers = dict(record.headers)
        raw_topic = headers.get(TOPIC_HEADER)
        topic = raw_topic.decode("utf-8", "replace") if raw_topic else None
        if topic is None:
            topic = rules.mqtt_topic(tp.topic, record.key)
            if topic is None:
                return True
        levels = split_topic(topic)
        mine = headers.get(CLIENT_HEADER) == self._client_id
        qos, ids = -1, []
        for sub in self.subs.values():
            if (mine and sub.options.no_local) or not sub.filter.matches(levels):
                continue
            qos = max(qos, sub.options.qos)
            if sub.identifier is not None:
                ids.append(sub.identifier)
        if qos < 0:
            return True
        if (qos and outlet.window <= 0) or not outlet.writable:
            return False
        publish = record_publish(record, topic, qos, self.version5)
        if ids and self.version5:
            props = publish.properties
            base = Properties() if props is NO_PROPERTIES else props
            publish = publish._replace(
                properties=replace(base, subscription_identifiers=tuple(ids))
            )
        packet_id = outlet.send_publish(publish)
        self.delivered += 1
        if qos and packet_id is not None:
            if self._inflight is _NO_INFLIGHT:  # the first: the tables are made now
                self._inflight, self._unacked = {}, {}
            self._inflight[packet_id] = (tp, record.offset)
            self._unacked.setdefault(tp, deque()).append(record.offset)
        return True

    def acked(self, packet_id: int) -> None:
        """The client acknowledged ``packet_id`` (PUBACK, PUBCOMP, or a 5.0 refusal)."""
        sent = self._inflight.pop(packet_id, None)
        if sent is not None:
            tp, offset = sent
            queue = self._unacked.get(tp)
            if queue is not None:
                with contextlib.suppress(ValueError):
                    queue.remove(offset)
            self.dirty = True
        if self._window_open is not None:
            self._window_open.set()

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition: where a resumed session must start (the oldest record sent and not
        acknowledged, else the read position)."""
        out = {}
        for tp, position in self.positions.items():
            queue = self._unacked.get(tp)
            out[tp] = queue[0] if queue else position
        return out
