"""The registry's store on one broker: its applied copy of `_schemas`, and the write path.

Reads: a tail task applies `_schemas` in offset order into a :class:`RegistryState`; every
query is answered from it.  Writes: only the elected writer — the leader of `_schemas` —
plans and appends them (acks=all), one at a time under a lock, after its own state holds
every record committed before (it first appends its writer announcement and waits to
apply it, so after a failover nothing the old writer committed can be missed, and no id is
given twice).  Another broker forwards the request to the writer's registry URL, taken
from that announcement (:mod:`logd.frontends.registry.forward`), and answers once its own
copy has applied the writer's records, so a client sees its own write on any broker.

Ownership: the broker's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from logd.errors import LogdError, NotLeaderOrFollowerError
from logd.frontends.registry.schema_log import SchemaLog
from logd.registry.errors import StoreError, WriterUnavailableError
from logd.registry.records import encode, writer_key
from logd.registry.state import RegistryState
from logd.registry.writes import Plan

__all__ = ["SchemaStore"]

log = logging.getLogger(__name__)

_POLL_MS = 200
_WRITER_WAIT_S = 15.0


class SchemaStore:
    """One broker's registry state and its way to the writer."""

    def __init__(self, schema_log: SchemaLog, url: str) -> None:
        self.log = schema_log
        self.url = url  # this broker's registry URL, announced when it becomes the writer
        self.state = RegistryState()
        self.applied = 0  # next offset to apply
        self._applied_changed = asyncio.Condition()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._tail(), name="registry-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- the tail -----------------------------------------------------------------------

    async def _tail(self) -> None:
        while True:
            try:
                if not self._ready.is_set():
                    await self.log.ensure_topic()
                    self._ready.set()
                records, _ = await self.log.read(self.applied, _POLL_MS)
            except asyncio.CancelledError:
                raise
            except NotLeaderOrFollowerError:
                await asyncio.sleep(_POLL_MS / 1000)
                continue
            except (LogdError, OSError) as exc:
                log.debug("registry: reading _schemas failed: %s", exc)
                await asyncio.sleep(_POLL_MS / 1000)
                continue
            if records:
                for r in records:
                    if not self.state.apply(r.key, r.value):
                        log.warning("registry: skipped a _schemas record at offset %d", r.offset)
                    self.applied = r.offset + 1
                async with self._applied_changed:
                    self._applied_changed.notify_all()

    async def wait_applied(self, offset: int, timeout_s: float = _WRITER_WAIT_S) -> None:
        """Until the record at ``offset`` is applied here."""
        async with self._applied_changed:
            await asyncio.wait_for(
                self._applied_changed.wait_for(lambda: self.applied > offset), timeout_s
            )

    # ---- writes -------------------------------------------------------------------------

    async def is_writer(self) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), _WRITER_WAIT_S)
        return await self.log.writer_id() == self.log.node_id

    async def write(self, plan_for: Callable[[RegistryState], Plan]) -> tuple[object, int]:
        """Plan on the caught-up state and commit; (the plan's answer, last offset or -1).

        Only on the writer (callers check :meth:`is_writer` first)."""
        async with self._write_lock:
            await self._become_writer()
            plan = plan_for(self.state)
            if not plan.records:
                return plan.answer, -1
            pairs = [(k.encode(), v) for k, v in plan.records]
            last = await self._append(pairs)
            await self.wait_applied(last)
            return plan.answer, last

    async def _become_writer(self) -> None:
        announced = self.state.writer
        if announced is not None and announced[0] == self.log.node_id:
            return
        value = encode({"nodeId": self.log.node_id, "url": self.url})
        last = await self._append([(writer_key().encode(), value)])
        await self.wait_applied(last)

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
                    raise WriterUnavailableError(f"not the registry writer: {exc}") from exc
                await asyncio.sleep(_POLL_MS / 1000)
            except LogdError as exc:
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
