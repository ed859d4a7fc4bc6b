"""The controller store's Raft listener: it applies the controller group's entries to the
image, publishes every change to the metadata listeners, and compacts the metadata log.

Apply (:meth:`ControllerListener.on_apply`, in log order, synchronous): each entry's records
change the image; the deltas ``(before, after)`` queue for publishing; a write waiting for
that offset (``expect_apply``) is answered -- or failed, when another leader's entry took
its place; the first entry of the leader's own term marks the term applied.

Publish: one task awaits every listener for every delta, in order, one at a time, under
``publish_lock`` (whoever reads the image and then subscribes holds it in between, so that
no change is missed); then ``published`` moves and writes waiting for it
(``wait_published``) return. The image changes first, so a read may see a topic whose
partitions are still being created: those answer NOT_LEADER_OR_FOLLOWER / UNKNOWN (both
retriable) for that moment, as in Kafka.

Compaction: every ``snapshot_every`` applied offsets, after the pass, the image is
snapshotted and the log behind it dropped; a follower that fell behind the snapshot gets
it whole (:meth:`on_snapshot`: the deltas are the difference of the two images).

Ownership: owned by the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from logd.cluster.controller.image import MetadataImage
from logd.cluster.controller.records import decode_records
from logd.cluster.controller.state import ControllerState
from logd.cluster.partition_log import PartitionLog
from logd.errors import LogdError, NotControllerError, RequestTimedOutError
from logd.metadata.store import MetadataListener, TopicRecord
from replication import Entry, EntryKind, Role, Snapshot

__all__ = ["ControllerListener"]

_log = logging.getLogger(__name__)

_Deltas = list[tuple[TopicRecord | None, TopicRecord | None]]


class ControllerListener:
    """The controller group's ``GroupListener``; see the module doc."""

    def __init__(
        self, state: ControllerState, storage: PartitionLog, *, snapshot_every: int
    ) -> None:
        self._state = state
        #: The metadata log (replaced when the store reopens it after a failed fsync).
        self.storage = storage
        #: Take a snapshot and compact the metadata log every this many applied offsets.
        self.snapshot_every = snapshot_every
        self._compacting = False
        self._listeners: list[MetadataListener] = []
        self._queue: asyncio.Queue[tuple[int, _Deltas]] = asyncio.Queue()
        self.published = -1
        self._publish_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._apply_waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self.publish_lock = asyncio.Lock()
        self._publisher: asyncio.Task[None] | None = None
        #: Called once the leader applied the first entry of its own term.
        self.on_term_applied: Callable[[], None] = lambda: None
        #: Called when the metadata log went offline (a failed fsync): the store reopens it.
        self.on_offline: Callable[[], None] = lambda: None

    def add_listener(self, listener: MetadataListener) -> None:
        self._listeners.append(listener)

    # -- life -----------------------------------------------------------------------------

    def restore(self) -> int | None:
        """Load the snapshot beside the log, if any; the offset it holds (None: none)."""
        if not self.storage.snapshot_data:
            return None
        self._state.image = MetadataImage.restore(self.storage.snapshot_data)
        self.published = self._state.image.applied
        return self._state.image.applied

    def start(self) -> None:
        self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._publisher
        error = NotControllerError("the broker is shutting down")
        for _, future in self._publish_waiters:
            if not future.done():
                future.set_exception(error)
        for _, future in self._apply_waiters.values():
            if not future.done():
                future.set_exception(error)

    # -- what writes wait for -------------------------------------------------------------

    def expect_apply(self, offset: int, term: int) -> asyncio.Future[None]:
        """A future answered when the entry ending at ``offset`` applies in ``term`` (or
        failed when another term's entry applies there); :meth:`forget_apply` after."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._apply_waiters[offset] = (term, future)
        return future

    def forget_apply(self, offset: int) -> None:
        self._apply_waiters.pop(offset, None)

    async def wait_published(self, offset: int, deadline: float) -> None:
        """Until this broker published ``offset`` (its listeners ran), or the deadline."""
        if self.published >= offset:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._publish_waiters.append((offset, future))
        left = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(future, max(left, 0.1))
        except TimeoutError:
            raise RequestTimedOutError(
                f"metadata offset {offset} not applied on broker {self._state.me.node_id} in time"
            ) from None

    # -- GroupListener --------------------------------------------------------------------

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None:
        state = self._state
        state.leader_changed.set()
        state.term_applied = False
        if role is Role.LEADER:
            state.table.clear_reports()
        if leader is not None and state.group is not None:
            state.table.controller_id = leader

    def on_commit(self, commit: int) -> None:
        del commit

    def on_apply(self, entries: Sequence[Entry]) -> None:
        state = self._state
        node = state.group.node if state.group is not None else None
        for entry in entries:
            deltas: _Deltas = []
            if entry.kind == EntryKind.NORMAL:
                deltas = state.image.apply(decode_records(entry.data), entry.last_offset)
            state.image.applied = max(state.image.applied, entry.last_offset)
            self._queue.put_nowait((entry.last_offset, deltas))
            self._answer_waiters(entry)
            leads = node is not None and node.role is Role.LEADER and entry.term == node.term
            if leads and not state.term_applied:
                state.term_applied = True
                self.on_term_applied()
        self._maybe_compact()

    def _answer_waiters(self, entry: Entry) -> None:
        """The write ending at ``entry`` applied; and every write of an older term that
        is still waiting will never apply: Raft's terms only grow along the log, so once a
        later term's entry applies, an older term's entry not applied yet was cut off by a
        new leader -- wherever it ended (a 10,000-record write overtaken by an election:
        answered at once, the writer retries with the new leader, instead of waiting out
        WRITE_TIMEOUT_S for an offset that never applies; issue 21)."""
        waiters = self._apply_waiters
        if not waiters:
            return
        waiter = waiters.get(entry.last_offset)
        if waiter is not None and not waiter[1].done() and waiter[0] == entry.term:
            waiter[1].set_result(None)
        for term, future in waiters.values():
            if term < entry.term and not future.done():
                future.set_exception(NotControllerError("a new leader replaced the write"))

    def on_storage_error(self, error: LogdError) -> None:
        # A failed fsync (the log is offline): the store reopens it from its files and
        # restarts the group (what was applied is durable: nothing to unwind). Damage met
        # reading it: a restart recovers it.
        if self.storage.log.offline_reason is not None:
            self._state.failed = f"{error}; reopening it from its files"
            _log.error("the metadata log failed (%s); reopening it from its files", error)
            self.on_offline()
            return
        self._state.failed = f"{error}; restart the broker"
        _log.error("the metadata log failed (%s); this broker no longer follows it until it "
                   "is restarted", error)  # fmt: skip

    def on_write_failed(self, error: str) -> None:
        # The driver retries the write; while it fails this broker sends nothing for the
        # group, so the other brokers elect another controller leader by themselves.
        del error

    def on_snapshot(self, snapshot: Snapshot) -> None:
        state = self._state
        before = dict(state.image.topics)
        state.image = MetadataImage.restore(snapshot.data)
        after = state.image.topics
        deltas: _Deltas = []
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                deltas.append((before.get(name), after.get(name)))
        self._queue.put_nowait((snapshot.meta.offset, deltas))

    def _maybe_compact(self) -> None:
        """After the pass (the entries just applied are durable and advanced): snapshot
        the image and drop the log behind it once enough has accumulated."""
        storage = self.storage
        image = self._state.image
        if self._compacting or image.applied - storage.snapshot_offset < self.snapshot_every:
            return
        self._compacting = True

        def compact() -> None:
            self._compacting = False
            current = self._state.image
            try:
                storage.compact(current.applied, current.snapshot())
            except LogdError as exc:
                _log.error("metadata snapshot failed: %s", exc)
            else:
                _log.info("metadata snapshot at offset %d", storage.snapshot_offset)

        asyncio.get_running_loop().call_soon(compact)

    # -- publishing -----------------------------------------------------------------------

    async def _publish_forever(self) -> None:
        while True:
            offset, deltas = await self._queue.get()
            async with self.publish_lock:
                for before, after in deltas:
                    for listener in list(self._listeners):
                        try:
                            await listener(before, after)
                        except LogdError as exc:  # an expected failure: one line, no trace
                            _log.error("metadata listener failed at offset %d: %s", offset, exc)
                        except Exception:
                            _log.exception("metadata listener failed at offset %d", offset)
                self.published = max(self.published, offset)
                self._state.propagating()
            self._answer_publish_waiters()

    def _answer_publish_waiters(self) -> None:
        if not self._publish_waiters:
            return
        keep = []
        for at, future in self._publish_waiters:
            if at <= self.published:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((at, future))
        self._publish_waiters = keep
