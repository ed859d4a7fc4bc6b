"""An acks=all produce's answer, made in the call that commits its batch (issue 22).

``BrokerCore.produce_nowait`` gives the partition a :class:`CommitAnswer` as the append's
``CommitWaiter`` (``logd.broker.partition``); ``Partition.commit`` resolves it in its own
call and the front end's listener writes the answer from there -- no loop turn of a done
callback between the commit and the answer. Owned by the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from logd.broker.api import ProduceResult
from logd.broker.partition import AppendResult
from logd.errors import LogdError, RequestTimedOutError

__all__ = ["DEFAULT_PRODUCE_TIMEOUT_MS", "MAX_PRODUCE_TIMEOUT_MS", "CommitAnswer", "produced"]

_log = logging.getLogger(__name__)

DEFAULT_PRODUCE_TIMEOUT_MS = 30_000  # Kafka's request.timeout.ms
MAX_PRODUCE_TIMEOUT_MS = 300_000


class CommitAnswer:
    """An acks=all produce's answer, made in ``Partition.commit``'s own call (the partition's
    ``CommitWaiter``). Through a done callback of the partition's future it came one loop
    turn later, and the front end's own callback on this answer one more (issue 22: three
    turns between a commit and its answer on the gRPC door, two on the Kafka door). A
    batch not committed within the timeout is answered REQUEST_TIMED_OUT, as Kafka does;
    it stays in the log and may still commit (a retry of an idempotent producer's batch is
    then answered as a duplicate; without idempotence it may be appended twice)."""

    __slots__ = ("_appended", "_early", "_listener", "_timer", "answer")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: Callable[[ProduceResult], None] | None = None,
    ) -> None:
        self.answer: asyncio.Future[ProduceResult] = loop.create_future()
        self._listener = listener
        self._appended: AppendResult | None = None
        #: Resolved inside ``append`` (a duplicate already committed): (its error,).
        self._early: tuple[LogdError | None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def done(self) -> bool:
        return self.answer.done()

    def set_result(self, result: None, /) -> None:
        self._resolve(None)

    def set_exception(self, exception: BaseException, /) -> None:
        assert isinstance(exception, LogdError), exception
        self._resolve(exception)

    def begin(self, appended: AppendResult, timeout_ms: int) -> asyncio.Future[ProduceResult]:
        """The append returned: answer now if it was resolved inside it, else start the
        timeout."""
        self._appended = appended
        if self._early is not None:
            self._resolve(self._early[0])
        else:
            if timeout_ms <= 0:
                timeout_ms = DEFAULT_PRODUCE_TIMEOUT_MS
            timeout_ms = min(timeout_ms, MAX_PRODUCE_TIMEOUT_MS)
            loop = self.answer.get_loop()
            self._timer = loop.call_later(timeout_ms / 1000.0, self._timed_out, timeout_ms)
        return self.answer

    def _resolve(self, error: LogdError | None) -> None:
        if self.answer.done():
            return
        appended = self._appended
        if appended is None:
            self._early = (error,)
            return
        if self._timer is not None:
            self._timer.cancel()
        self._answer(produced(appended) if error is None else ProduceResult(error=error))

    def _timed_out(self, timeout_ms: int) -> None:
        if self.answer.done() or self._appended is None:
            return
        error = RequestTimedOutError(
            f"batch at offset {self._appended.base_offset} not committed within {timeout_ms} ms"
        )
        self._answer(ProduceResult(error=error))

    def _answer(self, result: ProduceResult) -> None:
        self.answer.set_result(result)
        if self._listener is not None:
            try:  # inside Partition.commit: a front end's bug must not stop other commits
                self._listener(result)
            except Exception:
                _log.exception("a produce answer's listener failed")


def produced(appended: AppendResult) -> ProduceResult:
    return ProduceResult(
        base_offset=appended.base_offset,
        log_append_time_ms=appended.log_append_time_ms,
        log_start_offset=appended.log_start_offset,
    )
