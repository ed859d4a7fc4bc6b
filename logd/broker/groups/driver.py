"""One group coordinator at work: a ``GroupCoordinator`` core over one ``__consumer_offsets``
partition this broker leads (the asyncio driver the core's docstring describes).

Life: created when the partition's leadership arrives (``GroupService`` hears it from the
replica manager); it replays the partition (:mod:`replay`), calls ``finish_loading`` and
serves; :meth:`CoordinatorDriver.unload` ends it when leadership goes, answering everything
still waiting with NOT_COORDINATOR. While it loads, the core itself answers
COORDINATOR_LOAD_IN_PROGRESS.

The core's contract, kept here:

* after every call into the core, :meth:`_drain` empties ``ready()``;
* each ``Write`` becomes one batch appended through the partition's leader path
  (``Partition.append``, synchronous, so batches land in the order the core made them) and
  waits for its commit -- acks=all: the Raft majority, an fsync on one node -- before
  ``on_persisted`` is called; a commit that fails or does not come within
  ``offsets.commit.timeout.ms`` is reported with ``on_persist_failed`` (the batch is in
  the log and may still commit); an append that fails (the batch never reached the log: a
  full disk, lost leadership) with ``on_append_refused``, and so is every later write of
  the same ``Ready``, unappended: they were made on top of the refused one, whose changes
  the core takes back;
* each ``Response`` resolves the future of the request it answers (a caller that gave up has
  cancelled its future; the answer is then dropped);
* time: one timer handle at ``next_deadline_ms()``; it may fire early (``tick`` is harmless
  then) and is re-armed after every drain. No polling.

Ownership: owned by the broker's event loop; not thread-safe. Never awaits while it holds
the core mid-call: every core call and its drain run without an await in between.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable, Mapping

from logd.broker.groups.replay import replay_partition
from logd.broker.partition import Partition
from logd.clock import Clock
from logd.errors import ErrorCode, LogdError, NotLeaderOrFollowerError, RequestTimedOutError
from logd.groups.config import CoordinatorConfig
from logd.groups.coordinator import GroupCoordinator
from logd.groups.messages import Body
from logd.groups.outbox import Write
from logd.records.builder import build_pair_batch

__all__ = ["CoordinatorDriver"]

_log = logging.getLogger(__name__)

#: After a load that failed for a reason other than lost leadership (an unreadable segment,
#: storage offline), try again this much later.
LOAD_RETRY_S = 1.0


class CoordinatorDriver:
    """The coordinator of one ``__consumer_offsets`` partition led here at ``leader_epoch``."""

    def __init__(
        self,
        partition: Partition,
        leader_epoch: int,
        config: CoordinatorConfig,
        clock: Clock,
        *,
        commit_timeout_ms: int,
        member_id_suffix: Callable[[], str] | None = None,
        topic_ids: Callable[[], Mapping[str, uuid.UUID]] = dict,
    ) -> None:
        self.partition = partition
        self.leader_epoch = leader_epoch
        self._clock = clock
        self._commit_timeout_s = commit_timeout_ms / 1000.0
        self._topic_ids = topic_ids
        self.core = GroupCoordinator(
            config, member_id_suffix or (lambda: uuid.uuid4().hex), clock.now_ms()
        )
        self._loop = asyncio.get_running_loop()
        self._futures: dict[int, asyncio.Future[Body]] = {}
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at_ms: int | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._unloaded = False
        #: Set once loading finished (tests and the service wait on it).
        self.loaded = asyncio.Event()

    @property
    def partition_id(self) -> int:
        return self.partition.tp.partition

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        assert self._load_task is None
        name = f"logd-group-load-{self.partition_id}"
        self._load_task = self._loop.create_task(self._load(), name=name)

    async def _load(self) -> None:
        started = self._loop.time()
        while True:
            try:
                records, end = await replay_partition(self.partition, self.core.replay)
                break
            except NotLeaderOrFollowerError:
                return  # the service hears of it and unloads us
            except LogdError as exc:
                _log.error("%s: loading failed (retrying): %s", self.partition.tp, exc)
                await asyncio.sleep(LOAD_RETRY_S)
        self.core.finish_loading(self._clock.now_ms(), self._topic_ids())
        self._drain()
        self.loaded.set()
        _log.info(
            "%s: coordinator loaded %d record(s) up to offset %d in %.0f ms",
            self.partition.tp,
            records,
            end,
            (self._loop.time() - started) * 1000,
        )

    def unload(self) -> None:
        """Leadership is gone: answer everything waiting with NOT_COORDINATOR; stop."""
        if self._unloaded:
            return
        self._unloaded = True
        if self._load_task is not None:
            self._load_task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.core.unload(self._clock.now_ms())
        self._drain()
        assert not self._futures, "unload answers every request"

    # -- requests -------------------------------------------------------------------------

    async def call(self, submit: Callable[[int, int], None]) -> Body:
        """``submit(request_id, now_ms)`` hands one request to the core; its answer."""
        request_id = next(self._ids)
        answer: asyncio.Future[Body] = self._loop.create_future()
        self._futures[request_id] = answer
        try:
            submit(request_id, self._clock.now_ms())
        except BaseException:
            del self._futures[request_id]
            raise
        finally:
            self._drain()
        return await answer

    # -- the core's outputs ---------------------------------------------------------------

    def _drain(self) -> None:
        core = self.core
        while ready := core.ready():
            for i, write in enumerate(ready.writes):
                refused = self._append(write)
                if refused is not None:
                    now = self._clock.now_ms()
                    for later in ready.writes[i + 1 :]:
                        core.on_append_refused(later.write_id, refused, now)
                    break
            for response in ready.responses:
                answer = self._futures.pop(response.request_id, None)
                if answer is not None and not answer.done():
                    answer.set_result(response.body)
        self._rearm()

    def _append(self, write: Write) -> ErrorCode | None:
        """One write = one batch, appended now; reported once committed (or failed). The
        error when the append itself was refused (reported already), else None."""
        now = self._clock.now_ms()
        batch = build_pair_batch([(r.key, r.value) for r in write.records], now)
        try:
            appended = self.partition.append(batch, wait_commit=True)
        except LogdError as exc:
            self.core.on_append_refused(write.write_id, exc.code, now)
            return exc.code
        committed = appended.committed
        assert committed is not None

        def on_timeout() -> None:
            if not committed.done():
                # The batch stays in the log and may still commit; the answer cannot wait.
                self._persisted(write.write_id, RequestTimedOutError("commit timed out"))

        timer = self._loop.call_later(self._commit_timeout_s, on_timeout)

        def on_commit(done: asyncio.Future[None]) -> None:
            timer.cancel()
            error = None if done.cancelled() else done.exception()
            if done.cancelled():
                error = NotLeaderOrFollowerError(f"{self.partition.tp}: append cancelled")
            self._persisted(write.write_id, error)

        committed.add_done_callback(on_commit)
        return None

    def _persisted(self, write_id: int, error: BaseException | None) -> None:
        if self._unloaded:
            return  # unload() answered whoever waited on it
        now = self._clock.now_ms()
        if error is None:
            self.core.on_persisted(write_id, now)
        else:
            code = error.code if isinstance(error, LogdError) else ErrorCode.KAFKA_STORAGE_ERROR
            self.core.on_persist_failed(write_id, code, now)
        self._drain()

    # -- time -----------------------------------------------------------------------------

    def _rearm(self) -> None:
        if self._unloaded:
            return
        deadline = self.core.next_deadline_ms()
        if deadline is None:
            return  # an armed handle may fire for nothing; tick() is harmless
        if self._timer is not None and self._timer_at_ms is not None:
            if self._timer_at_ms <= deadline:
                return  # it fires first anyway, and re-arms then
            self._timer.cancel()
        delay_s = max(deadline - self._clock.now_ms(), 0) / 1000.0
        self._timer_at_ms = deadline
        self._timer = self._loop.call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at_ms = None
        if self._unloaded:
            return
        self.core.tick(self._clock.now_ms())
        self._drain()
