"""The registry's store on one broker: its applied copy of `_schemas`, and the write path.

Reads: a tail task applies `_schemas` (this broker's own replica, see ``schema_log``) in
offset order into a :class:`RegistryState`; every query is answered from it. The topic is
created by the cluster's first registry write, not at start (a cluster that never uses the
registry carries no `_schemas`).

Writes: only the elected writer -- the leader of `_schemas` -- plans and appends them
(acks=all), one at a time under a lock, after its own state holds every record committed
before. That is the *claim*: for each (leader, leader epoch) it holds, the writer first
appends its announcement and waits to apply it; Raft puts it after everything committed
before, so once applied nothing an earlier writer committed can be missed and no id is
given twice. A new epoch (even the same broker leading again) claims again. A broker
announces as soon as it sees it leads (a watch task), not at its first write, so the
others know where to forward: another broker forwards the request to the writer's registry
URL, taken from that announcement (:mod:`logd.frontends.registry.forward`), and answers
once its own copy has applied the writer's records, so a client sees its own write on any
broker.

Ownership: the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable

from logd.errors import LogdError, NotLeaderOrFollowerError
from logd.frontends.registry.schema_log import SchemaLog
from logd.registry.errors import RegistryError, StoreError, WriterUnavailableError
from logd.registry.records import encode, writer_key
from logd.registry.state import RegistryState
from logd.registry.writes import Plan

__all__ = ["SchemaStore"]

log = logging.getLogger(__name__)

_POLL_MS = 200
_WRITER_WAIT_S = 15.0


class SchemaStore:
    """One broker's registry state and its way to the writer."""

    def __init__(
        self, schema_log: SchemaLog, url: str, forward_ssl: ssl.SSLContext | None = None
    ) -> None:
        self.log = schema_log
        self.url = url  # this broker's registry URL, announced when it becomes the writer
        #: How this broker reaches the writer's HTTPS listener (presenting its own broker
        #: certificate); None without TLS.
        self.forward_ssl = forward_ssl
        self.state = RegistryState()
        self.applied = 0  # next offset to apply
        self._applied_changed = asyncio.Condition()
        self._write_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._topic_exists = False
        self._started = time.monotonic()
        #: Seconds from start until this broker's copy first caught up (None: not yet).
        self.ready_after_s: float | None = None
        #: The (leader, epoch) this broker announced itself in and applied since.
        self._claim: tuple[int, int] | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._tail(), name="registry-tail"),
            asyncio.create_task(self._watch_leadership(), name="registry-writer-watch"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- the tail -----------------------------------------------------------------------

    async def _tail(self) -> None:
        """Apply `_schemas` in offset order, for ever. Until the first write anywhere
        creates the topic, there is nothing to read (an unknown topic: poll)."""
        while True:
            try:
                records, next_offset = await self.log.read(self.applied, _POLL_MS)
            except asyncio.CancelledError:
                raise
            except (LogdError, OSError) as exc:
                log.debug("registry: reading _schemas failed: %s", exc)
                self._note_ready()  # no _schemas yet: caught up with nothing
                await asyncio.sleep(_POLL_MS / 1000)
                continue
            for r in records:
                if not self.state.apply(r.key, r.value):
                    log.warning("registry: skipped a _schemas record at offset %d", r.offset)
            if next_offset > self.applied:
                self.applied = next_offset
                async with self._applied_changed:
                    self._applied_changed.notify_all()
            else:
                await asyncio.sleep(0)  # an answer without progress must not starve the loop
            self._note_ready()

    def _note_ready(self) -> None:
        if self.ready_after_s is None and 0 <= self.log.high_watermark <= self.applied:
            self.ready_after_s = time.monotonic() - self._started

    @property
    def tailing(self) -> bool:
        """The tail task runs (it ends only when stopped, or by a bug: then unhealthy)."""
        return bool(self._tasks) and not self._tasks[0].done()

    async def wait_applied(self, offset: int, timeout_s: float = _WRITER_WAIT_S) -> None:
        """Until the record at ``offset`` is applied here."""
        async with self._applied_changed:
            await asyncio.wait_for(
                self._applied_changed.wait_for(lambda: self.applied > offset), timeout_s
            )

    async def _watch_leadership(self) -> None:
        """Claim at once when this broker comes to lead `_schemas` (see the module doc)."""
        while True:
            await asyncio.sleep(_POLL_MS / 1000)
            try:
                leadership = await self.log.leadership()
                if self._mine(leadership) and leadership != self._claim:
                    async with self._write_lock:
                        await self._ensure_claim()
            except asyncio.CancelledError:
                raise
            except (LogdError, RegistryError, OSError, TimeoutError) as exc:
                log.debug("registry: claiming the writer's role failed: %s", exc)

    def _mine(self, leadership: tuple[int, int] | None) -> bool:
        return leadership is not None and leadership[0] == self.log.node_id

    # ---- writes -------------------------------------------------------------------------

    async def is_writer(self) -> bool:
        """Whether this broker leads `_schemas` now; creates the topic (the first write of
        the cluster's registry) and waits, bounded, for it to have a leader."""
        if not self._topic_exists:
            await self.log.ensure_topic()
            self._topic_exists = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WRITER_WAIT_S
        while (writer := await self.log.writer_id()) is None and loop.time() < deadline:
            await asyncio.sleep(_POLL_MS / 1000)
        return writer == self.log.node_id

    async def write(self, plan_for: Callable[[RegistryState], Plan]) -> tuple[object, int]:
        """Plan on the caught-up state and commit; (the plan's answer, last offset or -1).

        Only on the writer (callers check :meth:`is_writer` first)."""
        async with self._write_lock:
            await self._ensure_claim()
            plan = plan_for(self.state)
            if not plan.records:
                return plan.answer, -1
            pairs = [(k.encode(), v) for k, v in plan.records]
            last = await self._append(pairs)
            await self.wait_applied(last)
            return plan.answer, last

    async def _ensure_claim(self) -> None:
        """Under the write lock: claim the current (leader, epoch) unless claimed already."""
        leadership = await self.log.leadership()
        if not self._mine(leadership):
            self._claim = None
            raise WriterUnavailableError("this broker is no longer the registry writer; retry")
        if leadership == self._claim:
            return
        value = encode({"nodeId": self.log.node_id, "url": self.url})
        last = await self._append([(writer_key().encode(), value)])
        await self.wait_applied(last)
        self._claim = leadership

    async def _append(self, pairs: list[tuple[bytes, bytes | None]]) -> int:
        """Append; a leader that metadata names but whose replica is not hosted yet (just
        created, just elected) is waited for, briefly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WRITER_WAIT_S
        while True:
            try:
                return await self.log.append(pairs)
            except NotLeaderOrFollowerError as exc:
                still_me = await self.log.writer_id() == self.log.node_id
                if not still_me or loop.time() >= deadline:
                    self._claim = None
                    raise WriterUnavailableError(f"not the registry writer: {exc}") from exc
                await asyncio.sleep(_POLL_MS / 1000)
            except LogdError as exc:
                self._claim = None  # committed or not: claim again before the next write
                raise StoreError(f"could not write to _schemas: {exc}") from exc

    async def writer_url(self) -> str:
        """The writer's registry URL, waiting (bounded) for an announcement by the broker
        that leads `_schemas` now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WRITER_WAIT_S
        while True:
            writer = await self.log.writer_id()
            announced = self.state.writer
            if writer is not None and announced is not None and announced[0] == writer:
                return announced[1]
            if writer == self.log.node_id:
                return self.url
            if loop.time() >= deadline:
                raise WriterUnavailableError("no schema registry writer is available")
            async with self._applied_changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._applied_changed.wait(), _POLL_MS / 1000)
